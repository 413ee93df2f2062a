/**
 * Sizing the reused byte buffers (the encoders' output, the consumer sinks' request
 * writer, the log's frame buffers, the Kafka request pool): one doubling rule for all of
 * them.
 */

/** `from` doubled until it is at least `needed` (`from` itself if that is enough). */
export function doubledCapacity(from: number, needed: number): number {
  let size = from;
  while (size < needed) size *= 2;
  return size;
}

/**
 * A new buffer of `buf`'s size doubled until it holds `needed` bytes, with `buf`'s first
 * `used` bytes copied in. Callers check for room first (the hot path) and call this only
 * when there is none.
 */
export function growBuffer(buf: Buffer, used: number, needed: number): Buffer {
  const next = Buffer.allocUnsafe(doubledCapacity(Math.max(1, buf.length) * 2, needed));
  buf.copy(next, 0, 0, used);
  return next;
}
