/**
 * On-disk frame of one record in a partition log segment. All integers little-endian.
 *
 * ```
 *  byte 0       4       8               16              24  25  26  28        32
 *       +-------+-------+-------+-------+---------------+---+---+---+---------+
 *       | length| crc32 |offsetLo offsetHi timestamp f64|mag| ct|rsv| keyLength|
 *       +-------+-------+-------+-------+---------------+---+---+---+---------+
 *       32            32+K          36+K                36+K+V
 *       +-------------+-------------+--------------------+
 *       | key (K)     | valueLength | value (V)          |
 *       +-------------+-------------+--------------------+
 *
 *  length      u32  bytes after the length field: frame size - 4 = 32 + K + V
 *  crc32       u32  zlib CRC-32 of every byte after this field: [8, 4 + length)
 *  offsetLo/Hi u32  the record's offset in its partition (two u32: a JS number, < 2^53)
 *  timestamp   f64  ms since the epoch (an f64 holds every ms timestamp exactly)
 *  magic       u8   frame format version, FRAME_MAGIC
 *  ct          u8   content type of the value (ContentType in src/sink/sink.ts)
 *  rsv         u16  reserved, written 0
 *  keyLength   u32  K
 *  valueLength u32  V (redundant with length: a cross-check against a garbled header)
 * ```
 *
 * The CRC covers the offset, so a stale frame left at the right position with the wrong
 * offset is still caught by the offset-continuity check of whoever scans the segment.
 */
import { crc32 } from 'node:zlib';

export const FRAME_MAGIC = 1;

/** Named byte offsets of the fixed header fields inside a frame. */
export const F_LENGTH = 0;
export const F_CRC = 4;
export const F_OFFSET_LO = 8;
export const F_OFFSET_HI = 12;
export const F_TIMESTAMP = 16;
export const F_MAGIC = 24;
export const F_CONTENT_TYPE = 25;
export const F_RESERVED = 26;
export const F_KEY_LENGTH = 28;
export const F_KEY = 32;
/** First byte covered by the CRC. */
export const CRC_START = F_OFFSET_LO;
/** Fixed bytes of a frame: header (32) + valueLength (4). */
export const FRAME_OVERHEAD = 36;
/**
 * Largest frame the log writes or accepts when reading. A length field above it is
 * treated as corruption, so a garbled length cannot make a reader allocate gigabytes.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

const TWO_32 = 0x1_0000_0000;

/** What a frame holds once decoded; key and value are views into the buffer read. */
export interface FrameRecord {
  offset: number;
  timestamp: number;
  contentType: number;
  key: Uint8Array;
  value: Uint8Array;
}

/** The fields of a record a frame is built from. */
export interface FrameInput {
  timestamp: number;
  contentType: number;
  key: Uint8Array;
  value: Uint8Array;
}

/** Bytes the frame of a record with these key and value sizes takes. */
export function frameSize(keyLength: number, valueLength: number): number {
  return FRAME_OVERHEAD + keyLength + valueLength;
}

/**
 * Writes the frame of `rec` with `offset` into `buf` at `pos` (the caller sized `buf`
 * with frameSize) and returns the position after it.
 */
export function encodeFrame(buf: Buffer, pos: number, offset: number, rec: FrameInput): number {
  const k = rec.key.length;
  const v = rec.value.length;
  const size = FRAME_OVERHEAD + k + v;
  buf.writeUInt32LE(size - 4, pos + F_LENGTH);
  buf.writeUInt32LE(offset >>> 0, pos + F_OFFSET_LO);
  buf.writeUInt32LE(Math.floor(offset / TWO_32), pos + F_OFFSET_HI);
  buf.writeDoubleLE(rec.timestamp, pos + F_TIMESTAMP);
  buf[pos + F_MAGIC] = FRAME_MAGIC;
  buf[pos + F_CONTENT_TYPE] = rec.contentType;
  buf.writeUInt16LE(0, pos + F_RESERVED);
  buf.writeUInt32LE(k, pos + F_KEY_LENGTH);
  buf.set(rec.key, pos + F_KEY);
  buf.writeUInt32LE(v, pos + F_KEY + k);
  buf.set(rec.value, pos + F_KEY + k + 4);
  buf.writeUInt32LE(crc32(buf.subarray(pos + CRC_START, pos + size)), pos + F_CRC);
  return pos + size;
}

/** Outcome of checking the bytes at a position for a frame. */
export const FrameStatus = {
  /** A whole frame with a good CRC and a consistent header. */
  ok: 0,
  /** Fewer bytes than the frame needs: a write in progress or a torn tail. */
  incomplete: 1,
  /** Bad length, CRC, magic or inner lengths: garbage or a torn tail. */
  corrupt: 2,
} as const;
export type FrameStatus = (typeof FrameStatus)[keyof typeof FrameStatus];

/**
 * Checks the frame starting at `pos` among the first `end` bytes of `buf`. Returns the
 * status and, when ok, the frame's total size in `sizeOut[0]`; when incomplete, the size
 * the frame claims (so the caller can read that much) or 0 if not even the length is there.
 */
export function checkFrame(buf: Uint8Array, pos: number, end: number, sizeOut: Int32Array): FrameStatus {
  sizeOut[0] = 0;
  if (end - pos < 4) return FrameStatus.incomplete;
  const length = readU32(buf, pos + F_LENGTH);
  const size = length + 4;
  if (size < FRAME_OVERHEAD || size > MAX_FRAME_BYTES) return FrameStatus.corrupt;
  sizeOut[0] = size;
  if (end - pos < size) return FrameStatus.incomplete;
  if (buf[pos + F_MAGIC] !== FRAME_MAGIC) return FrameStatus.corrupt;
  const k = readU32(buf, pos + F_KEY_LENGTH);
  if (k > size - FRAME_OVERHEAD) return FrameStatus.corrupt;
  if (readU32(buf, pos + F_KEY + k) !== size - FRAME_OVERHEAD - k) return FrameStatus.corrupt;
  if (crc32(buf.subarray(pos + CRC_START, pos + size)) !== readU32(buf, pos + F_CRC)) {
    return FrameStatus.corrupt;
  }
  return FrameStatus.ok;
}

/** The offset stored in the (already checked) frame at `pos`. */
export function frameOffset(buf: Uint8Array, pos: number): number {
  return readU32(buf, pos + F_OFFSET_LO) + readU32(buf, pos + F_OFFSET_HI) * TWO_32;
}

/**
 * Decodes the (already checked) frame at `pos`. Key and value are views into `buf`, not
 * copies: they stay valid as long as the caller does not reuse `buf`.
 */
export function decodeFrame(buf: Buffer, pos: number): FrameRecord {
  const k = readU32(buf, pos + F_KEY_LENGTH);
  const size = readU32(buf, pos + F_LENGTH) + 4;
  const valueStart = pos + F_KEY + k + 4;
  return {
    offset: frameOffset(buf, pos),
    timestamp: buf.readDoubleLE(pos + F_TIMESTAMP),
    contentType: buf[pos + F_CONTENT_TYPE],
    key: buf.subarray(pos + F_KEY, pos + F_KEY + k),
    value: buf.subarray(valueStart, pos + size),
  };
}

function readU32(buf: Uint8Array, p: number): number {
  return (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)) >>> 0;
}
