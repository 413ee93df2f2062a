/**
 * Snappy block format (what remote_write mandates: no framing, no Content-Encoding
 * negotiation) with a cap on the decompressed size checked BEFORE inflating: the block
 * starts with the uncompressed length as a varint, so a 10 KiB body that claims 4 GiB is
 * refused without allocating anything.
 */
import { uncompressSync } from 'snappy';

export class SnappyError extends Error {
  /** 413 when the body would inflate past the cap, 400 when it is not snappy. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The uncompressed length a snappy block declares, or -1 when its header is malformed. */
export function snappyDecodedLength(block: Uint8Array): number {
  let result = 0;
  for (let i = 0, shift = 0; i < 5 && i < block.length; i++, shift += 7) {
    const b = block[i]!;
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return result <= 0xffffffff ? result : -1;
  }
  return -1;
}

/** Inflates a snappy block of at most `maxDecoded` bytes; throws SnappyError otherwise. */
export function snappyUncompress(block: Uint8Array, maxDecoded: number): Buffer {
  const declared = snappyDecodedLength(block);
  if (declared < 0) throw new SnappyError(400, 'body is not snappy block format (bad length header)');
  if (declared > maxDecoded) {
    throw new SnappyError(413, `snappy body declares ${declared} decoded bytes, over the limit of ${maxDecoded}`);
  }
  try {
    return uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (e) {
    throw new SnappyError(400, `body is not valid snappy block format: ${(e as Error).message}`);
  }
}
