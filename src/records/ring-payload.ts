import type { ContentType, SinkRecord } from '../sink/sink.ts';

/**
 * The payload of one gateway record in a ring: what an HTTP worker writes and the owner
 * reads. The ring record's type is the value's ContentType.
 *
 * ```
 *   0                8           10          12              12+keyLength
 *   +----------------+-----------+-----------+---------------+--------------+
 *   | timestamp f64  | partition | keyLength | key (UTF-8)   | value bytes  |
 *   | ms, LE         | u16 LE    | u16 LE    |               | (to the end) |
 *   +----------------+-----------+-----------+---------------+--------------+
 * ```
 *
 * The payload starts 8-byte aligned in the ring, so the timestamp is too.
 */
export const PAYLOAD_PREFIX = 12;
export const MAX_KEY_LENGTH = 0xffff;

/** Payload bytes a record with this key and value takes. */
export function payloadLength(keyLength: number, valueLength: number): number {
  return PAYLOAD_PREFIX + keyLength + valueLength;
}

/**
 * Writes the payload at `bytes[index...]` (a ring's claimed space). `view` must be a
 * DataView over the same buffer as `bytes`, from byte 0.
 */
export function writePayload(
  bytes: Uint8Array,
  view: DataView,
  index: number,
  timestamp: number,
  partition: number,
  key: Uint8Array,
  value: Uint8Array,
): void {
  view.setFloat64(index, timestamp, true);
  view.setUint16(index + 8, partition, true);
  view.setUint16(index + 10, key.length, true);
  bytes.set(key, index + PAYLOAD_PREFIX);
  bytes.set(value, index + PAYLOAD_PREFIX + key.length);
}

/**
 * The SinkRecord of a payload already copied out of ring memory (`copy`: its bytes, key
 * and value are views into it), so the ring space can be freed at once.
 */
export function readPayload(contentType: number, copy: Buffer): SinkRecord {
  const keyLength = copy.readUInt16LE(10);
  const valueStart = PAYLOAD_PREFIX + keyLength;
  return {
    timestamp: copy.readDoubleLE(0),
    partition: copy.readUInt16LE(8),
    key: copy.subarray(PAYLOAD_PREFIX, valueStart),
    value: copy.subarray(valueStart),
    contentType: contentType as ContentType,
  };
}
