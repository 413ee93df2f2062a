/**
 * A snappy block-format decoder (https://github.com/google/snappy/blob/main/format_description.txt)
 * writing into a buffer this thread reuses, for remote_write bodies: the native `snappy`
 * package returns a fresh buffer per body, external memory that adds to the full GCs a
 * worker runs at large bodies (issue 15). The result is valid until the next call in the
 * same thread (remote_write decodes it into the record before the next request).
 *
 * Every malformed input (bad length header, a literal or copy past the stated length or
 * the input, a copy offset of 0 or before the start, output shorter than stated) throws
 * DecodeError(400); a stated length over `maxDecoded` throws DecodeError(413) before any
 * output is written.
 */
import { DecodeError } from '../workers/content-encoding.ts';

// Allocated on the first body (a worker that never sees remote_write never holds it).
let scratch: Buffer = Buffer.alloc(0);
/** Larger outputs are not kept: an idle worker should not hold a big request's memory. */
const SCRATCH_MAX = 4 * 1024 * 1024;

function bad(what: string): DecodeError {
  return new DecodeError(400, `body is not valid snappy: ${what}`);
}

/** Decodes `block`; the returned view is valid until the next call in this thread. */
export function snappyBlockDecodeReused(block: Uint8Array, maxDecoded: number): Buffer {
  const end = block.length;
  // The decoded length: a little-endian base-128 varint of at most 5 bytes (32 bits).
  let length = 0;
  let p = 0;
  for (let shift = 0; ; shift += 7) {
    if (p >= end || p >= 5) throw bad('bad length header');
    const b = block[p++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > 0xffffffff) throw bad('bad length header');
  if (length > maxDecoded) {
    throw new DecodeError(413, `snappy body decodes to ${length} bytes, over the ${maxDecoded} bytes allowed (--max-decoded-body)`);
  }
  let out = scratch;
  if (out.length < length) {
    out = Buffer.allocUnsafe(Math.max(length, 64 * 1024));
    if (length <= SCRATCH_MAX) scratch = out;
  }
  let o = 0;
  while (p < end) {
    const tag = block[p++]!;
    const kind = tag & 3;
    if (kind === 0) {
      // Literal: length - 1 in the tag's upper 6 bits, or in the next 1-4 bytes (60-63).
      let n = tag >>> 2;
      if (n >= 60) {
        const extra = n - 59;
        if (p + extra > end) throw bad('truncated literal length');
        n = block[p]!;
        if (extra > 1) n |= block[p + 1]! << 8;
        if (extra > 2) n |= block[p + 2]! << 16;
        if (extra > 3) n = (n | (block[p + 3]! << 24)) >>> 0;
        p += extra;
      }
      n += 1;
      if (p + n > end) throw bad('literal runs past the input');
      if (o + n > length) throw bad('literal runs past the stated length');
      if (n < 32) for (let i = 0; i < n; i++) out[o++] = block[p++]!;
      else {
        out.set(block.subarray(p, p + n), o);
        o += n;
        p += n;
      }
      continue;
    }
    let n: number;
    let offset: number;
    if (kind === 1) {
      if (p >= end) throw bad('truncated copy');
      n = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | block[p++]!;
    } else if (kind === 2) {
      if (p + 2 > end) throw bad('truncated copy');
      n = (tag >>> 2) + 1;
      offset = block[p]! | (block[p + 1]! << 8);
      p += 2;
    } else {
      if (p + 4 > end) throw bad('truncated copy');
      n = (tag >>> 2) + 1;
      offset = (block[p]! | (block[p + 1]! << 8) | (block[p + 2]! << 16) | (block[p + 3]! << 24)) >>> 0;
      p += 4;
    }
    if (offset === 0 || offset > o) throw bad('copy from before the start of the output');
    if (o + n > length) throw bad('copy runs past the stated length');
    // Byte by byte: a copy may overlap its own output (offset < n repeats a pattern).
    let from = o - offset;
    for (let i = 0; i < n; i++) out[o++] = out[from++]!;
  }
  if (o !== length) throw bad(`decoded ${o} bytes, the header states ${length}`);
  return out.subarray(0, length);
}
