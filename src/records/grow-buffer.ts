/**
 * Growing the reused byte buffers the encoders write into (the record encoder, the JSON
 * transcoder, the consumer sinks' request writer): one doubling rule for all of them.
 */

/**
 * A new buffer of `buf`'s size doubled until it holds `needed` bytes, with `buf`'s first
 * `used` bytes copied in. Callers check for room first (the hot path) and call this only
 * when there is none.
 */
export function growBuffer(buf: Buffer, used: number, needed: number): Buffer {
  let size = Math.max(1, buf.length) * 2;
  while (size < needed) size *= 2;
  const next = Buffer.allocUnsafe(size);
  buf.copy(next, 0, 0, used);
  return next;
}
