/**
 * Read-only access to a partition log, for consumers, possibly in another process than
 * the writer. Never opens anything for writing, takes no lock, and never returns a torn
 * frame: it stops at the writer's commit mark (see commit-marks.ts) and, where there is
 * no mark, at the first incomplete or bad frame of the last segment.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { commitMarksPath, readCommitMark } from './commit-marks.ts';
import { offsetOfFrameAt, scanFrames } from './frame-scan.ts';
import { readMeta } from './log-meta.ts';
import { lookupIndex, readIndex } from './offset-index.ts';
import { decodeFrame, frameOffset } from './record-frame.ts';
import { listSegments, partitionDir, segmentIndexPath, segmentLogPath } from './segment-files.ts';

/** One record as read back. key/value are views into a buffer owned by this result. */
export interface LogRecord {
  offset: number;
  /** ms since the epoch. */
  timestamp: number;
  contentType: number;
  key: Uint8Array;
  value: Uint8Array;
}

export interface ReadResult {
  /** Records in offset order, consecutive from the first one. */
  records: LogRecord[];
  /** The offset to ask for next (after the last record returned). */
  nextOffset: number;
  /**
   * How many offsets from `fromOffset` on had already been deleted by retention: when > 0,
   * the records start at the earliest retained offset, fromOffset + skipped.
   */
  skipped: number;
}

/** The log holds bytes that cannot be a good record where a record must be. */
export class CorruptLogError extends Error {
  override name = 'CorruptLogError';
}

interface Location {
  base: number;
  position: number;
  /** Offset of the frame at `position`. */
  expected: number;
}

interface PartitionState {
  dir: string;
  /** Segment bases as last listed (refreshed when the reader runs past them). */
  segments: number[];
  /** Where the last read stopped, to continue without seeking. */
  cursor: Location | null;
  fh: FileHandle | null;
  fhBase: number;
}

/** Bytes read per syscall when scanning a segment. */
const READ_CHUNK = 64 * 1024;
const NO_SEGMENT = -1;

/**
 * Reader over a data dir. Calls for different partitions may run concurrently; calls for
 * one partition must not (they share its cursor and file handle).
 */
export class LogReader {
  readonly dataDir: string;
  readonly partitions: number;
  readonly #states: PartitionState[];
  #marks: FileHandle | null = null;
  #closed = false;

  private constructor(dataDir: string, partitions: number) {
    this.dataDir = dataDir;
    this.partitions = partitions;
    this.#states = Array.from({ length: partitions }, (_, p) => ({
      dir: partitionDir(dataDir, p),
      segments: [],
      cursor: null,
      fh: null,
      fhBase: NO_SEGMENT,
    }));
  }

  /** Opens the log in `dataDir` for reading; throws if it has no meta.json (not a log). */
  static async open(dataDir: string): Promise<LogReader> {
    const meta = await readMeta(dataDir);
    if (meta === null) {
      throw new Error(`${dataDir} holds no partition log (no meta.json): has a writer ever opened it?`);
    }
    return new LogReader(dataDir, meta.partitions);
  }

  /** Earliest offset of `partition` still retained (as listed now; retention may move it). */
  async startOffset(partition: number): Promise<number> {
    const st = this.#state(partition);
    await this.#refresh(st);
    return st.segments.length > 0 ? st.segments[0] : 0;
  }

  /**
   * The next offset to be written in `partition`, as seen now: the writer's commit mark,
   * or, without one, the end of the last good frame on disk. Stale as soon as it returns.
   */
  async endOffset(partition: number): Promise<number> {
    const st = this.#state(partition);
    const mark = await this.#mark(partition);
    if (mark !== null) return mark;
    await this.#refresh(st);
    if (st.segments.length === 0) return 0;
    const loc = await this.#seek(st, Number.MAX_SAFE_INTEGER);
    const fh = await this.#segmentHandle(st, loc.base);
    if (fh === null) return loc.expected;
    await scanFrames(
      fh,
      loc.position,
      (buf, p) => {
        if (frameOffset(buf, p) !== loc.expected) return false;
        loc.expected++;
        return true;
      },
      READ_CHUNK,
    );
    return loc.expected;
  }

  /**
   * Reads up to `maxRecords` records of `partition` from `fromOffset` on, seeking with the
   * sparse index (or continuing where the previous read of this partition stopped).
   * Returns fewer (possibly none) at the end of what is durable now. If retention already
   * deleted `fromOffset`, reads from the earliest retained offset and says so in
   * `skipped`. Throws CorruptLogError for a bad frame where one cannot be a write in
   * progress (inside a sealed segment, or below the writer's commit mark).
   */
  async read(partition: number, fromOffset: number, maxRecords: number): Promise<ReadResult> {
    if (this.#closed) throw new Error('LogReader is closed');
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0) {
      throw new RangeError(`fromOffset must be a non-negative integer, got ${fromOffset}`);
    }
    if (!Number.isInteger(maxRecords) || maxRecords < 1) {
      throw new RangeError(`maxRecords must be a positive integer, got ${maxRecords}`);
    }
    const st = this.#state(partition);
    const mark = await this.#mark(partition);
    const limit = mark ?? Infinity;
    if (fromOffset >= limit) return { records: [], nextOffset: fromOffset, skipped: 0 };

    let from = fromOffset;
    let skipped = 0;
    let loc: Location;
    if (st.cursor !== null && st.cursor.expected === from) {
      loc = { ...st.cursor };
    } else {
      await this.#refresh(st);
      if (st.segments.length === 0) return { records: [], nextOffset: fromOffset, skipped: 0 };
      if (from < st.segments[0]) {
        skipped = st.segments[0] - from;
        from = st.segments[0];
      }
      loc = await this.#seek(st, from);
    }

    const records: LogRecord[] = [];
    let rescanned = false;
    for (;;) {
      const fh = await this.#segmentHandle(st, loc.base);
      if (fh === null) {
        // Retention deleted the segment since we listed it.
        if (records.length > 0) break;
        await this.#refresh(st);
        if (st.segments.length === 0) break;
        if (from < st.segments[0]) {
          skipped += st.segments[0] - from;
          from = st.segments[0];
        }
        loc = await this.#seek(st, from);
        continue;
      }
      let gap = false;
      const res = await scanFrames(
        fh,
        loc.position,
        (buf, p) => {
          const off = frameOffset(buf, p);
          if (off !== loc.expected) {
            gap = true;
            return false;
          }
          if (off >= limit || records.length >= maxRecords) return false;
          if (off >= from) records.push(decodeFrame(buf, p));
          loc.expected++;
          return true;
        },
        READ_CHUNK,
      );
      loc.position = res.position;
      if (res.stop === 'visitor' && !gap) break;

      // This segment has nothing more now: its end, a bad frame, or a wrong offset.
      const clean = res.stop === 'end' && !gap;
      const nextBase = await this.#nextSegment(st, loc.base);
      if (nextBase === null) {
        if (mark !== null && loc.expected < mark) {
          throw new CorruptLogError(
            `partition ${partition}: segment ${loc.base} ${clean ? 'ends' : 'has a bad frame'} at byte ` +
              `${loc.position} (offset ${loc.expected}) but the writer committed up to offset ${mark}`,
          );
        }
        break; // The tail: a write may be in progress, stop here.
      }
      // A later segment exists, so this one was complete before it was created. We may
      // have scanned it before it was; look once more before calling it corrupt.
      if (!clean || loc.expected !== nextBase) {
        if (!rescanned) {
          rescanned = true;
          continue;
        }
        throw new CorruptLogError(
          `partition ${partition}: sealed segment ${loc.base} ${clean ? 'ends' : 'has a bad frame'} at byte ` +
            `${loc.position} (offset ${loc.expected}); the next segment starts at offset ${nextBase}`,
        );
      }
      rescanned = false;
      loc = { base: nextBase, position: 0, expected: nextBase };
    }

    if (records.length > 0 || loc.expected >= from) {
      st.cursor = { ...loc };
      return { records, nextOffset: loc.expected, skipped };
    }
    // fromOffset lies beyond what is on disk now: keep the caller's position.
    return { records, nextOffset: from, skipped };
  }

  /** Closes the files this reader holds open. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const st of this.#states) {
      await st.fh?.close().catch(() => {});
      st.fh = null;
    }
    await this.#marks?.close().catch(() => {});
    this.#marks = null;
  }

  #state(partition: number): PartitionState {
    const st = this.#states[partition];
    if (st === undefined) {
      throw new RangeError(`partition ${partition} is not in [0, ${this.partitions})`);
    }
    return st;
  }

  /** The writer's commit mark for `partition`, or null if there is none (yet). */
  async #mark(partition: number): Promise<number | null> {
    if (this.#marks === null) {
      try {
        this.#marks = await open(commitMarksPath(this.dataDir), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    }
    return readCommitMark(this.#marks, partition);
  }

  async #refresh(st: PartitionState): Promise<void> {
    st.segments = (await listSegments(st.dir)).logs;
  }

  /** The base of the segment after `base`, listing the directory again if needed. */
  async #nextSegment(st: PartitionState, base: number): Promise<number | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      for (const b of st.segments) if (b > base) return b;
      if (attempt === 0) await this.#refresh(st);
    }
    return null;
  }

  /**
   * Where to start scanning for `offset`: the segment holding it and the last index entry
   * at or before it, if that entry points at its record (else the segment's start).
   */
  async #seek(st: PartitionState, offset: number): Promise<Location> {
    let base = st.segments[0];
    for (const b of st.segments) if (b <= offset) base = b;
    const start: Location = { base, position: 0, expected: base };
    const entries = await readIndex(segmentIndexPath(st.dir, base));
    const i = lookupIndex(entries, Math.min(offset - base, 0xffffffff));
    if (i < 0) return start;
    const fh = await this.#segmentHandle(st, base);
    if (fh === null) return start;
    const rel = entries[i * 2];
    const position = entries[i * 2 + 1];
    if ((await offsetOfFrameAt(fh, position)) !== base + rel) return start;
    return { base, position, expected: base + rel };
  }

  /** The open handle of segment `base`, or null if it no longer exists. */
  async #segmentHandle(st: PartitionState, base: number): Promise<FileHandle | null> {
    if (st.fh !== null && st.fhBase === base) return st.fh;
    if (st.fh !== null) {
      await st.fh.close().catch(() => {});
      st.fh = null;
      st.fhBase = NO_SEGMENT;
    }
    try {
      st.fh = await open(segmentLogPath(st.dir, base), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    st.fhBase = base;
    return st.fh;
  }
}
