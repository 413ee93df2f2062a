/**
 * Request body Content-Encoding, decoded while the body streams in and capped on the
 * decoded size: a zip bomb (200 MB of zeros in 200 KB of gzip) is refused the moment its
 * output passes the cap, never inflated first.
 *
 * Supported: identity, gzip (x-gzip), deflate (zlib-wrapped, as HTTP specifies), zstd
 * (Node's zlib; a frame whose header states a decoded size over the cap is refused before
 * decompressing), snappy (block format, as remote_write sends it; its header states the
 * decoded length, so the cap is checked before anything is decompressed). Anything else,
 * or a list of encodings, is refused with 415 by the caller.
 */
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

// snappy is a native addon of a few MB per thread: loaded on the first snappy body, so a
// worker that never sees one (most of them) never pays for it (issue 15, memory).
const require = createRequire(import.meta.url);
let snappyModule: typeof import('snappy') | undefined;
const snappy = (): typeof import('snappy') => (snappyModule ??= require('snappy') as typeof import('snappy'));

export type Encoding = 'identity' | 'gzip' | 'deflate' | 'zstd' | 'snappy';

export const SUPPORTED_ENCODINGS: readonly Encoding[] = ['identity', 'gzip', 'deflate', 'zstd', 'snappy'];

/** The encoding named by a Content-Encoding header, or undefined when unsupported. */
export function parseContentEncoding(header: string | undefined): Encoding | undefined {
  if (header === undefined) return 'identity';
  const name = header.trim().toLowerCase();
  if (name === '' || name === 'identity') return 'identity';
  if (name === 'gzip' || name === 'x-gzip') return 'gzip';
  if (name === 'deflate' || name === 'zstd' || name === 'snappy') return name;
  return undefined;
}

/** Why a body could not be decoded: 413 past the cap, 400 for bytes that do not decode. */
export class DecodeError extends Error {
  override name = 'DecodeError';
  readonly status: 400 | 413;
  constructor(status: 400 | 413, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Decodes one body incrementally: write() each received chunk, then end(). Decoded
 * chunks go to `onData` as they come (the caller counts them against its budget);
 * `onDone` is called exactly once, with a DecodeError or with undefined at the end.
 */
export interface BodyDecoder {
  write(chunk: Buffer): void;
  end(): void;
  /** Stops decoding and frees what it holds; no callback follows. */
  destroy(): void;
}

export function createBodyDecoder(
  encoding: Exclude<Encoding, 'identity'>,
  maxDecoded: number,
  onData: (chunk: Buffer) => void,
  onDone: (error: DecodeError | undefined) => void,
): BodyDecoder {
  if (encoding === 'snappy') return snappyDecoder(maxDecoded, onData, onDone);
  let decoded = 0;
  let finished = false;
  const finish = (error: DecodeError | undefined) => {
    if (finished) return;
    finished = true;
    onDone(error);
  };
  // Made on the first bytes, after the zstd header check: a refused body never costs a
  // decompressor (native memory that stays until a GC collects its handle).
  let stream: zlib.Gunzip | zlib.Inflate | zlib.ZstdDecompress | undefined;
  const open = () => {
    const s = encoding === 'gzip' ? zlib.createGunzip() : encoding === 'deflate' ? zlib.createInflate() : zlib.createZstdDecompress();
    s.on('data', (chunk: Buffer) => {
      if (finished) return;
      decoded += chunk.length;
      if (decoded > maxDecoded) {
        s.destroy();
        return finish(new DecodeError(413, `${encoding} body decodes to more than the ${maxDecoded} bytes allowed (--max-decoded-body)`));
      }
      onData(chunk);
    });
    s.on('error', (err) => finish(new DecodeError(400, `body is not valid ${encoding}: ${err.message}`)));
    s.on('end', () => finish(undefined));
    return s;
  };
  return {
    write: (chunk) => {
      if (finished) return;
      if (stream === undefined && encoding === 'zstd') {
        // zstd frames usually state their decoded size (the zstd tool and one-shot APIs
        // write it): a bomb that says so is refused before anything is decompressed.
        const declared = zstdDeclaredSize(chunk);
        if (declared !== undefined && declared > maxDecoded) {
          return finish(new DecodeError(413, `zstd body declares ${declared} decoded bytes, over the ${maxDecoded} bytes allowed (--max-decoded-body)`));
        }
      }
      (stream ??= open()).write(chunk);
    },
    end: () => {
      if (!finished) (stream ??= open()).end();
    },
    destroy: () => {
      finished = true;
      stream?.destroy();
    },
  };
}

/**
 * The decoded size a zstd frame header at the start of `b` states (RFC 8878, 3.1.1.1:
 * Frame_Content_Size), or undefined when `b` does not start with a whole frame header or
 * the frame does not state it. Only a first, non-skippable frame is read: a body of
 * several frames decodes to at least that much.
 */
export function zstdDeclaredSize(b: Uint8Array): number | undefined {
  if (b.length < 5 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) return undefined;
  const descriptor = b[4];
  const singleSegment = (descriptor >> 5) & 1;
  const fcsFlag = descriptor >> 6;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3];
  if (b.length < at + fcsBytes) return undefined;
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + b[at + i];
  return fcsBytes === 2 ? size + 256 : size;
}

/** Snappy block format: collect the (wire-capped) body, check the stated length, decode. */
function snappyDecoder(maxDecoded: number, onData: (chunk: Buffer) => void, onDone: (error: DecodeError | undefined) => void): BodyDecoder {
  const chunks: Buffer[] = [];
  let done = false;
  return {
    write: (chunk) => {
      if (!done) chunks.push(chunk);
    },
    end: () => {
      if (done) return;
      done = true;
      try {
        onData(snappyBlockDecode(Buffer.concat(chunks), maxDecoded));
        onDone(undefined);
      } catch (e) {
        onDone(e instanceof DecodeError ? e : new DecodeError(400, `body is not valid snappy: ${(e as Error).message}`));
      }
    },
    destroy: () => {
      done = true;
      chunks.length = 0;
    },
  };
}

/**
 * Decodes a snappy block (the format remote_write uses), refusing with DecodeError(413)
 * before decompressing when its header states more than `maxDecoded` bytes, and with
 * DecodeError(400) when the bytes are not snappy. For protocol modules too.
 */
export function snappyBlockDecode(block: Uint8Array, maxDecoded: number): Buffer {
  // The block starts with the decoded length as a little-endian base-128 varint (<= 5 bytes).
  let length = 0;
  let i = 0;
  for (let shift = 0; ; shift += 7, i++) {
    if (i >= block.length || i >= 5) throw new DecodeError(400, 'body is not valid snappy: bad length header');
    length += (block[i] & 0x7f) * 2 ** shift;
    if ((block[i] & 0x80) === 0) break;
  }
  if (length > maxDecoded) {
    throw new DecodeError(413, `snappy body decodes to ${length} bytes, over the ${maxDecoded} bytes allowed (--max-decoded-body)`);
  }
  try {
    return snappy().uncompressSync(Buffer.from(block.buffer, block.byteOffset, block.length)) as Buffer;
  } catch (e) {
    throw new DecodeError(400, `body is not valid snappy: ${(e as Error).message}`);
  }
}
