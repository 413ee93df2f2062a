/**
 * Sparse offset index of a segment: lets a reader seek to an offset without scanning the
 * segment from its start. One entry roughly every INDEX_INTERVAL_BYTES of log.
 *
 * ```
 *  entry (8 bytes, little-endian), entries sorted by both fields:
 *  +----------------+----------------+
 *  | relOffset u32  | position u32   |
 *  +----------------+----------------+
 *  relOffset = record offset - segment base; position = byte position of its frame.
 * ```
 *
 * The index is a hint, never the truth: it is written after the records it points to are
 * durable, is not fsync'd on every append (recovery rebuilds its tail), and readers check
 * the frame an entry points to before trusting it.
 */
import { readFile } from 'node:fs/promises';

export const INDEX_ENTRY_BYTES = 8;
/** Log bytes between two index entries (at least; an entry goes on the next frame start). */
export const INDEX_INTERVAL_BYTES = 4096;

/** Index entries as a flat array: [rel0, pos0, rel1, pos1, ...]. */
export type IndexEntries = Uint32Array;

/**
 * Reads an index file. A missing file is an empty index; a trailing partial entry (a write
 * in progress) is ignored. Entries that break the ordering end the usable index there.
 */
export async function readIndex(indexPath: string): Promise<IndexEntries> {
  let buf: Buffer;
  try {
    buf = await readFile(indexPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Uint32Array(0);
    throw err;
  }
  return parseIndex(buf);
}

/** Parses index bytes, keeping the longest prefix of strictly increasing entries. */
export function parseIndex(buf: Uint8Array): IndexEntries {
  const count = Math.floor(buf.length / INDEX_ENTRY_BYTES);
  const out = new Uint32Array(count * 2);
  const dv = new DataView(buf.buffer, buf.byteOffset, count * INDEX_ENTRY_BYTES);
  let n = 0;
  for (let i = 0; i < count; i++) {
    const rel = dv.getUint32(i * 8, true);
    const pos = dv.getUint32(i * 8 + 4, true);
    // No entry is ever written for position 0 (a scan starts there anyway), so a zero
    // position, like any non-increasing entry, means garbage from here on.
    if (pos === 0 || (n > 0 && (rel <= out[n * 2 - 2] || pos <= out[n * 2 - 1]))) break;
    out[n * 2] = rel;
    out[n * 2 + 1] = pos;
    n++;
  }
  return out.subarray(0, n * 2);
}

/** Index of the last entry whose relOffset is <= `rel`, or -1 if there is none. */
export function lookupIndex(entries: IndexEntries, rel: number): number {
  let lo = 0;
  let hi = entries.length / 2 - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid * 2] <= rel) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** Encodes entries [rel, pos, rel, pos, ...] into index file bytes. */
export function encodeIndexEntries(flat: ArrayLike<number>): Buffer {
  const buf = Buffer.allocUnsafe(flat.length * 4);
  for (let i = 0; i < flat.length; i++) buf.writeUInt32LE(flat[i], i * 4);
  return buf;
}
