/**
 * `<data-dir>/commit-marks`: for each partition, the next offset after its last durable
 * (fdatasync'd) record, published by the writer for readers in other processes.
 *
 * Why: a reader sees bytes as soon as they are in the page cache, before fdatasync. If that
 * fdatasync then fails, the writer truncates those records and gives their offsets to other
 * data; a reader that had already returned them would have shown records that never
 * existed. Readers therefore stop at the mark. The mark only ever moves after fdatasync, so
 * everything below it survives a crash; it is rewritten from the recovered log at open.
 *
 * ```
 *  slot p at byte p * 16 (little-endian):
 *  +-------------+-------------+-------------------------+-----------+
 *  | nextLo u32  | nextHi u32  | crc32 of bytes [0, 8)   | 0 u32     |
 *  +-------------+-------------+-------------------------+-----------+
 * ```
 *
 * The marks are also the record of what was acknowledged, which recovery compares with
 * what it finds in the log (recovery.ts): fewer records than the mark means acknowledged
 * records were lost. They are written into the page cache before every acknowledgement
 * (so a kill -9 loses none) and fdatasync'd off the acknowledgement path, at most one
 * sync in flight and at most one every MARKS_SYNC_MS: after a power cut they may be
 * behind the log by that much (then readers stop early until the writer reopens, and a
 * loss in that window would go unnoticed), never ahead of it. The CRC catches a read torn
 * by a concurrent write; the reader then tries again.
 */
import { writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { openOrCreate } from './file-io.ts';
import { fsyncDir } from './segment-files.ts';

export const COMMIT_MARKS_FILE = 'commit-marks';
const SLOT_BYTES = 16;
const TWO_32 = 0x1_0000_0000;
/** Least time between two background fdatasyncs of the marks. */
const MARKS_SYNC_MS = 50;

/** Path of the commit marks file of a data dir. */
export function commitMarksPath(dataDir: string): string {
  return path.join(dataDir, COMMIT_MARKS_FILE);
}

/**
 * The writer's side: publishes the marks of all partitions with one small write (not
 * fsync'd). The writer awaits it before resolving an append, so a record acknowledged to a
 * client is visible to every reader from then on.
 */
export class CommitMarksWriter {
  readonly #fh: FileHandle;
  readonly #marks: Float64Array;
  /** The last error of a write, if any: records stay durable, readers see them late. */
  lastError: Error | null = null;
  /** Told of every failed write or sync (the log reports it: log line, counter, readiness). */
  onError: ((err: Error) => void) | null = null;
  #syncing = false;
  #lastSync = 0;

  private constructor(fh: FileHandle, marks: Float64Array) {
    this.#fh = fh;
    this.#marks = marks;
  }

  /**
   * Opens (creating) the file and writes `marks` (the recovered ends) as the start point.
   * Overwrites in place rather than truncating, so a reader never finds the file empty.
   */
  static async open(dataDir: string, marks: ArrayLike<number>): Promise<CommitMarksWriter> {
    const { fh, created } = await openOrCreate(commitMarksPath(dataDir));
    const w = new CommitMarksWriter(fh, Float64Array.from(marks));
    try {
      const bytes = marks.length * SLOT_BYTES;
      await fh.write(w.#encode(), 0, bytes, 0);
      await fh.truncate(bytes);
      await fh.datasync();
      if (created) await fsyncDir(dataDir);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    return w;
  }

  /** Sets partition `p`'s mark; call publish() to write it. */
  set(p: number, nextOffset: number): void {
    this.#marks[p] = nextOffset;
  }

  /**
   * Writes the current marks. Never rejects: a failure is kept in lastError (the records
   * are durable regardless; readers just do not see them until a later write succeeds).
   * Not for concurrent calls (the writer publishes once per append, appends are serial).
   */
  async publish(): Promise<void> {
    const buf = this.#encode();
    try {
      // A few bytes into the page cache: cheaper inline than a thread-pool round trip.
      writeSync(this.#fh.fd, buf, 0, buf.length, 0);
      this.lastError = null;
    } catch (err) {
      this.lastError = err as Error;
      this.onError?.(err as Error);
      return;
    }
    this.#syncSoon();
  }

  /** Starts a background fdatasync unless one runs or one ran less than MARKS_SYNC_MS ago. */
  #syncSoon(): void {
    const now = performance.now();
    if (this.#syncing || now - this.#lastSync < MARKS_SYNC_MS) return;
    this.#syncing = true;
    this.#lastSync = now;
    this.#fh.datasync().then(
      () => {
        this.#syncing = false;
      },
      (err: Error) => {
        this.#syncing = false;
        this.lastError = err;
        this.onError?.(err);
      },
    );
  }

  /** Syncs the marks and closes the file. */
  async close(): Promise<void> {
    while (this.#syncing) await new Promise((r) => setTimeout(r, 1));
    await this.#fh.datasync().catch(() => {});
    await this.#fh.close();
  }

  #encode(): Buffer {
    const buf = Buffer.alloc(this.#marks.length * SLOT_BYTES);
    for (let p = 0; p < this.#marks.length; p++) encodeSlot(buf, p * SLOT_BYTES, this.#marks[p]);
    return buf;
  }
}

function encodeSlot(buf: Buffer, at: number, next: number): void {
  buf.writeUInt32LE(next >>> 0, at);
  buf.writeUInt32LE(Math.floor(next / TWO_32), at + 4);
  buf.writeUInt32LE(crc32(buf.subarray(at, at + 8)), at + 8);
}

/**
 * Reads partition `p`'s mark through an open handle on the marks file. Returns null when
 * the slot is missing or keeps failing its CRC (then the reader falls back to the log).
 * The value may be stale by the time the caller uses it; it only ever grows.
 */
export async function readCommitMark(fh: FileHandle, p: number): Promise<number | null> {
  const buf = Buffer.allocUnsafe(SLOT_BYTES);
  for (let attempt = 0; attempt < 3; attempt++) {
    const { bytesRead } = await fh.read(buf, 0, SLOT_BYTES, p * SLOT_BYTES);
    if (bytesRead < 12) return null;
    if (crc32(buf.subarray(0, 8)) === buf.readUInt32LE(8)) {
      return buf.readUInt32LE(0) + buf.readUInt32LE(4) * TWO_32;
    }
  }
  return null;
}

/**
 * Reads every partition's mark from `dataDir`'s marks file, for recovery: null where a slot
 * is missing or unreadable, and all null when there is no marks file (a new data dir).
 */
export async function readCommitMarks(dataDir: string, partitions: number): Promise<(number | null)[]> {
  let fh: FileHandle;
  try {
    fh = await open(commitMarksPath(dataDir), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Array(partitions).fill(null);
    throw err;
  }
  try {
    const out: (number | null)[] = [];
    for (let p = 0; p < partitions; p++) out.push(await readCommitMark(fh, p));
    return out;
  } finally {
    await fh.close();
  }
}
