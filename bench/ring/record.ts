/**
 * The payload every bench record carries, whatever the transport, so that each consumer
 * can prove per-producer order and no loss, and the latency test can stamp a time:
 *
 * ```
 *   0          4          8                  16
 *   +----------+----------+------------------+---------------------------+
 *   | producer |   seq    | write time (f64) | filler up to the size     |
 *   |  u32     |   u32    | ms, 0 if unused  | (stands for the encoded   |
 *   |          |          |                  |  metric: bytes to move)   |
 *   +----------+----------+------------------+---------------------------+
 * ```
 *
 * Little-endian int32/f64 words: every payload starts 8-byte aligned in the ring, the
 * mutex queue and a cloned Uint8Array, so consumers read them with typed-array views.
 */

export const PRODUCER_WORD = 0;
export const SEQ_WORD = 1;
/** f64 index of the write time. */
export const TIME_F64 = 1;
export const MIN_RECORD_BYTES = 16;

/** A record template for `producer`: header zeroed, filler set to a fixed pattern. */
export function recordTemplate(producer: number, size: number): Uint8Array {
  if (size < MIN_RECORD_BYTES || size % 8 !== 0) {
    throw new RangeError(`bench record size must be a multiple of 8, at least ${MIN_RECORD_BYTES}, got ${size}`);
  }
  const bytes = new Uint8Array(size);
  for (let i = MIN_RECORD_BYTES; i < size; i++) bytes[i] = (i * 31 + producer) & 0xff;
  new Int32Array(bytes.buffer)[PRODUCER_WORD] = producer;
  return bytes;
}

/**
 * A clock whose readings compare across threads with nanosecond resolution: ms since
 * `base` (an absolute time every thread was given). performance.timeOrigin + now() is
 * consistent across worker threads (both come from the same monotonic clock) but near
 * 1.7e12 ms a double only resolves ~0.24 µs; subtracting a shared base keeps the
 * numbers small.
 */
export function relativeClock(base: number): () => number {
  const offset = performance.timeOrigin - base;
  return () => offset + performance.now();
}
