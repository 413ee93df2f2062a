/**
 * Request body Content-Encoding, decoded once the body is in (at most --max-body on the
 * wire) and capped on the decoded size: a zip bomb (200 MB of zeros in 200 KB of gzip) is
 * refused the moment its output passes the cap, never inflated first.
 *
 * Supported: identity, gzip (x-gzip; a trailer whose ISIZE is over the cap is refused
 * before inflating), deflate (zlib-wrapped, as HTTP specifies), zstd (Node's zlib; a frame
 * whose header states a decoded size over the cap is refused before decompressing),
 * snappy (block format, as remote_write sends it; its header states the decoded length,
 * so the cap is checked before anything is decompressed). Anything else, or a list of
 * encodings, is refused with 415 by the caller.
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

/**
 * Whether a Transfer-Encoding header names `chunked` alone. Node's parser refuses a request
 * whose last coding is not chunked, but takes codings before it (`gzip, chunked`) and hands
 * the body over still coded: read as JSON or protobuf it would be refused as garbage, with
 * a message that misleads. RFC 9112 (6.1) has such a request answered 501.
 */
export function chunkedOnly(header: string): boolean {
  return header.trim().toLowerCase() === 'chunked';
}

/** Why a body could not be decoded: 413 past the cap, 400 for bytes that do not decode. */
export class DecodeError extends Error {
  override name = 'DecodeError';
  readonly status: 400 | 413;
  /** Bytes decoded, and dropped, before decoding stopped: the cap when it passed it. */
  readonly decoded: number;
  constructor(status: 400 | 413, message: string, decoded = 0) {
    super(message);
    this.status = status;
    this.decoded = decoded;
  }
}

const SYNC_DECODERS = { gzip: zlib.gunzipSync, deflate: zlib.inflateSync, zstd: zlib.zstdDecompressSync } as const;

/**
 * The most a body may decode to on the worker's own thread (128 KiB, about 0.1 ms of
 * inflating here): larger ones go to libuv's pool, so that no request, a zip bomb
 * included, holds a worker's event loop, and the other requests on it, for longer.
 */
export const SYNC_DECODE_LIMIT = 128 << 10;

/**
 * Refuses with DecodeError(413) a body whose first bytes state a decoded size over
 * `maxDecoded` (zstd frames, see zstdDeclaredSize): called on the first chunk received,
 * so such a bomb is refused before the rest of it is read.
 */
export function checkDeclaredSize(encoding: Exclude<Encoding, 'identity'>, head: Uint8Array, maxDecoded: number): void {
  if (encoding === 'zstd') refuseDeclared(encoding, zstdDeclaredSize(head), maxDecoded);
}

/**
 * Decodes a whole body (at most --max-body on the wire) on this thread when it decodes to
 * at most SYNC_DECODE_LIMIT bytes; undefined when it decodes to more, for decodeInPool.
 * Throws DecodeError: 413 when the body states a decoded size over `maxDecoded` (zstd's
 * frame header, gzip's ISIZE) or its output passes `maxDecoded` (zlib stops there, so a
 * bomb costs at most that much inflating), 400 for bytes that do not decode.
 *
 * On this thread on purpose: zlib's streams run every chunk on libuv's thread pool (where
 * the owner's fdatasyncs wait too) and build a stream per body, 75-100 µs of CPU for a
 * gzipped 100-line Influx body on this machine against 4-15 µs for one synchronous call,
 * which closes its handle before returning (bench/ISSUE-15.md, twelfth round).
 */
export function decodeBody(encoding: Exclude<Encoding, 'identity'>, body: Buffer, maxDecoded: number): Buffer | undefined {
  if (encoding === 'snappy') return snappyBlockDecode(body, maxDecoded);
  const stated = encoding === 'zstd' ? zstdDeclaredSize(body) : encoding === 'gzip' ? gzipStatedSize(body) : undefined;
  refuseDeclared(encoding, stated, maxDecoded);
  if (stated !== undefined && stated > SYNC_DECODE_LIMIT) return undefined;
  const limit = Math.min(maxDecoded, SYNC_DECODE_LIMIT);
  try {
    return SYNC_DECODERS[encoding](body, { maxOutputLength: limit });
  } catch (e) {
    const tooLarge = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    if (tooLarge && maxDecoded > limit) return undefined;
    throw tooLarge ? overCap(encoding, limit, limit) : invalid(encoding, e);
  }
}

/**
 * Decodes on libuv's pool, as a zlib stream, a body that decodeBody left there: each
 * decoded chunk goes to `onChunk` as it comes (the caller reserves its bytes from the
 * in-flight budget; false stops the decode, and the promise then resolves), the output
 * capped at `maxDecoded`. Rejects with the DecodeError decodeBody would throw.
 *
 * A stream, not zlib's one-shot call, because a large body's size is known only once it
 * is decoded: reserving the cap for each one made 50 clients sending 300 KB bodies get
 * 503 for 60 % of them, against 0.4 % with the chunks reserved as they come.
 */
export function decodeInPool(encoding: Exclude<Encoding, 'identity' | 'snappy'>, body: Buffer, maxDecoded: number, onChunk: (chunk: Buffer) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = encoding === 'gzip' ? zlib.createGunzip() : encoding === 'deflate' ? zlib.createInflate() : zlib.createZstdDecompress();
    let decoded = 0;
    stream.on('data', (chunk: Buffer) => {
      decoded += chunk.length;
      if (decoded > maxDecoded) {
        stream.destroy();
        return reject(overCap(encoding, maxDecoded, decoded));
      }
      if (!onChunk(chunk)) {
        stream.destroy();
        resolve();
      }
    });
    stream.on('error', (e) => reject(invalid(encoding, e)));
    stream.on('end', () => resolve());
    stream.end(body);
  });
}

/** 413 for a body that states, in its header or trailer, a decoded size over the cap. */
function refuseDeclared(encoding: Encoding, stated: number | undefined, maxDecoded: number): void {
  if (stated !== undefined && stated > maxDecoded) {
    throw new DecodeError(413, `${encoding} body declares ${stated} decoded bytes, over the ${maxDecoded} bytes allowed (--max-decoded-body)`);
  }
}

/** 413 for a body whose output passed the cap, `decoded` bytes made before it stopped. */
function overCap(encoding: Encoding, maxDecoded: number, decoded: number): DecodeError {
  return new DecodeError(413, `${encoding} body decodes to more than the ${maxDecoded} bytes allowed (--max-decoded-body)`, decoded);
}

/** 400 for bytes that do not decode. */
function invalid(encoding: Encoding, e: unknown): DecodeError {
  return new DecodeError(400, `body is not valid ${encoding}: ${(e as Error).message}`);
}

/**
 * The decoded size a gzip body states in its last member's trailer (RFC 1952, 2.3.1:
 * ISIZE, the size modulo 2^32), or undefined when `b` is not gzip. A whole body decodes
 * to at least that much, so an ISIZE over the cap is refused unread (a cut body's last
 * four bytes are read as one too: 413 instead of 400 when they state more than the cap);
 * a smaller one is not trusted (it may lie, or the body may end in padding), only used to
 * pick the thread.
 */
export function gzipStatedSize(b: Uint8Array): number | undefined {
  if (b.length < 18 || b[0] !== 0x1f || b[1] !== 0x8b) return undefined;
  const n = b.length;
  return (b[n - 4] | (b[n - 3] << 8) | (b[n - 2] << 16)) + b[n - 1] * 2 ** 24;
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
