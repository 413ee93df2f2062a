/**
 * Read-only access to a partition log, for consumers, possibly in another process than
 * the writer. Never opens anything for writing, takes no lock, and never returns a torn
 * frame: it stops at the writer's commit mark (see commit-marks.ts) and, where there is
 * no mark, at the first incomplete or bad frame of the last segment.
 *
 * Damage is detected as it is read: every frame's CRC and offset are checked. A bad frame
 * where one cannot be a write in progress (below the commit mark, or in a sealed segment)
 * is reported in ReadResult.damaged with its offsets and byte position, and reading
 * resumes at the next good frame in sequence (found by findNextFrame: length + CRC +
 * offset); a gap between segments is reported the same way.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { commitMarksPath, readCommitMark } from './commit-marks.ts';
import { findNextFrame, offsetOfFrameAt, scanFrames } from './frame-scan.ts';
import type { ResyncPoint } from './frame-scan.ts';
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
  /**
   * Offsets in the range read whose records are missing or damaged on disk (below the
   * writer's commit mark, or inside a sealed segment): reported here and stepped over, so
   * the good records around them are still delivered. Usually empty.
   */
  damaged: DamagedRange[];
}

/** Offsets [from, to) of a partition that cannot be read back, and why. */
export interface DamagedRange {
  from: number;
  to: number;
  reason: string;
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
   * `skipped`. Damaged or missing records (a bad frame where one cannot be a write in
   * progress: in a sealed segment, or below the writer's commit mark) are reported in
   * `damaged` and stepped over; reading goes on at the next good frame.
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
    if (fromOffset >= limit) return { records: [], nextOffset: fromOffset, skipped: 0, damaged: [] };

    let from = fromOffset;
    let skipped = 0;
    let loc: Location;
    if (st.cursor !== null && st.cursor.expected === from) {
      loc = { ...st.cursor };
    } else {
      await this.#refresh(st);
      if (st.segments.length === 0) return { records: [], nextOffset: fromOffset, skipped: 0, damaged: [] };
      if (from < st.segments[0]) {
        skipped = st.segments[0] - from;
        from = st.segments[0];
      }
      loc = await this.#seek(st, from);
    }

    const records: LogRecord[] = [];
    const damaged: DamagedRange[] = [];
    const report = (a: number, b: number, reason: string) => {
      const lo = Math.max(a, from);
      const hi = Math.min(b, limit);
      if (hi > lo) damaged.push({ from: lo, to: hi, reason: `partition ${partition}: ${reason}` });
    };
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
      let gapOffset = -1;
      const res = await scanFrames(
        fh,
        loc.position,
        (buf, p) => {
          const off = frameOffset(buf, p);
          if (off !== loc.expected) {
            gap = true;
            gapOffset = off;
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
      const committed = mark !== null && loc.expected < mark;
      if (nextBase === null && !committed) break; // The tail: a write may be in progress.
      if (nextBase !== null && (!clean || loc.expected !== nextBase) && !rescanned) {
        // A later segment exists, so this one was complete before it was created. We may
        // have scanned it before it was; look once more before calling it damaged.
        rescanned = true;
        continue;
      }
      rescanned = false;
      const where = `segment ${loc.base} byte ${loc.position}`;
      if (clean) {
        if (nextBase !== null && loc.expected === nextBase) {
          loc = { base: nextBase, position: 0, expected: nextBase };
          continue;
        }
        if (nextBase !== null) {
          report(loc.expected, nextBase, `missing: ${where} is the end of the segment, the next one starts at offset ${nextBase}`);
          loc = { base: nextBase, position: 0, expected: nextBase };
          continue;
        }
        // The last segment ends below what the writer committed.
        report(loc.expected, mark as number, `missing: ${where} is the end of the log but the writer committed up to offset ${mark}`);
        loc.expected = mark as number;
        break;
      }
      const what = gap ? `frame with offset ${gapOffset} where ${loc.expected} belongs` : `${res.stop} frame`;
      const found: ResyncPoint | null =
        gap && gapOffset > loc.expected ? { position: loc.position, offset: gapOffset } : await findNextFrame(fh, loc.position, loc.expected);
      if (found !== null && (nextBase === null || found.offset <= nextBase)) {
        report(loc.expected, found.offset, `damaged: ${what} at ${where}; good frames resume at byte ${found.position} (offset ${found.offset})`);
        loc = { base: loc.base, position: found.position, expected: found.offset };
        continue;
      }
      if (nextBase !== null) {
        report(loc.expected, nextBase, `damaged: ${what} at ${where}, nothing good after it in the segment`);
        loc = { base: nextBase, position: 0, expected: nextBase };
        continue;
      }
      report(loc.expected, mark as number, `damaged: ${what} at ${where}, nothing good after it up to the writer's commit mark ${mark}`);
      loc.expected = mark as number;
      break;
    }

    if (records.length > 0 || loc.expected >= from) {
      st.cursor = { ...loc };
      return { records, nextOffset: loc.expected, skipped, damaged };
    }
    // fromOffset lies beyond what is on disk now: keep the caller's position.
    return { records, nextOffset: from, skipped, damaged };
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
