/**
 * Recovery of a partition's segments when the writer opens the log.
 *
 * The active (last) segment is verified frame by frame from its first byte (not only
 * after its last index entry): it is where appending continues, so every offset in it
 * must be accounted for. What is found is compared with the commit mark (the offsets
 * acknowledged to clients): a bad frame at or past the mark is a torn tail (a crash in
 * the middle of an unacknowledged write) and is cut off; a bad frame below it is damage
 * to acknowledged data, reported as lost offsets while the good frames after it are kept.
 * The check is read-only (checkActiveSegment); the caller decides whether to go on
 * (repairActiveSegment) once it knows what was lost.
 *
 * Sealed segments were complete and fdatasync'd before the next one was created; their
 * index is brought up to date (recoverSealedSegment) and their frames are checked by the
 * readers as they go (log-reader.ts reports damage there and resumes after it), so a
 * restart does not re-read gigabytes.
 */
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { findNextFrame, offsetOfFrameAt, scanFrames } from './frame-scan.ts';
import type { ScanStop } from './frame-scan.ts';
import { INDEX_ENTRY_BYTES, INDEX_INTERVAL_BYTES, encodeIndexEntries, parseIndex } from './offset-index.ts';
import { frameOffset } from './record-frame.ts';
import { fsyncDir, segmentIndexPath, segmentLogPath } from './segment-files.ts';

/** What recovery found in a segment. */
export interface RecoveredSegment {
  base: number;
  /** Bytes of good frames: the file's size after recovery. */
  size: number;
  /**
   * The offset after the segment's last good record (base when it is empty); -1 for a
   * sealed segment whose complete index was trusted without a scan.
   */
  nextOffset: number;
  /** File position of the segment's last index entry, 0 when it has none. */
  lastIndexedPosition: number;
  /** Entries in the index file after recovery (its size is exactly that many entries). */
  indexEntries: number;
  /** Bytes cut off the end (a torn or corrupt tail); 0 when the segment was intact. */
  truncatedBytes: number;
  /** Why the scan stopped where it did ('end' for an intact segment). */
  stop: ScanStop;
}

/** Records missing or damaged in a partition: offsets [from, to). */
export interface LostRange {
  from: number;
  to: number;
  /** What happened, for the log line: a bad frame at a byte position, or a missing tail. */
  reason: string;
}

/** What verifying the active segment found, before anything is changed on disk. */
export interface ActiveSegmentCheck {
  base: number;
  fileSize: number;
  /** Where the good data ends: the file is cut here (a torn tail, or zeros written ahead). */
  goodEnd: number;
  /** Offset after the last good record (base when there is none). */
  nextOffset: number;
  /** Damaged frames in the middle (good frames after them were kept): lost offsets. */
  damaged: LostRange[];
  /** Index entries [rel, pos, ...] for every good frame of the segment. */
  index: number[];
  /** Why the scan ended where it did. */
  stop: ScanStop;
}

/**
 * Verifies every frame of the active (last) segment `base` of `dir`, read-only. `acked` is
 * the partition's commit mark (every offset below it was acknowledged; 0 when unknown).
 * A bad frame at or past `acked` is a torn tail: the scan ends there and the file will be
 * cut. A bad frame below `acked` is damage to acknowledged data: the scan looks for the
 * next good frame in sequence (findNextFrame), reports the offsets in between, and goes
 * on, so that good records after the damage are kept and their offsets never reused.
 */
export async function checkActiveSegment(dir: string, base: number, acked: number): Promise<ActiveSegmentCheck> {
  const fh = await open(segmentLogPath(dir, base), 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const damaged: LostRange[] = [];
    const index: number[] = [];
    let lastIndexed = 0;
    let expected = base;
    let position = 0;
    for (;;) {
      const res = await scanFrames(fh, position, (buf, p, _size, filePos) => {
        if (frameOffset(buf, p) !== expected) return false;
        if (filePos - lastIndexed >= INDEX_INTERVAL_BYTES) {
          index.push(expected - base, filePos);
          lastIndexed = filePos;
        }
        expected++;
        return true;
      });
      position = res.position;
      if (res.stop === 'end' || expected >= acked) {
        return { base, fileSize, goodEnd: position, nextOffset: expected, damaged, index, stop: res.stop };
      }
      const found = await findNextFrame(fh, position, expected);
      if (found === null) {
        return { base, fileSize, goodEnd: position, nextOffset: expected, damaged, index, stop: res.stop };
      }
      damaged.push({
        from: expected,
        to: found.offset,
        reason: `${res.stop === 'visitor' ? 'frame out of sequence' : `${res.stop} frame`} at byte ${position} of segment ${base}`,
      });
      position = found.position;
      expected = found.offset;
    }
  } finally {
    await fh.close();
  }
}

/**
 * Applies a check: cuts the log file at goodEnd and rewrites the index when it differs
 * from the one computed. Both are fdatasync'd when changed.
 */
export async function repairActiveSegment(dir: string, check: ActiveSegmentCheck): Promise<RecoveredSegment> {
  if (check.goodEnd < check.fileSize) {
    const fh = await open(segmentLogPath(dir, check.base), 'r+');
    try {
      await fh.truncate(check.goodEnd);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
  const indexPath = segmentIndexPath(dir, check.base);
  const want = encodeIndexEntries(check.index);
  const have = await readFile(indexPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (have === null || !have.equals(want)) {
    await rewriteIndexTail(indexPath, 0, check.index);
    if (have === null) await fsyncDir(dir);
  }
  const n = check.index.length;
  return {
    base: check.base,
    size: check.goodEnd,
    nextOffset: check.nextOffset,
    lastIndexedPosition: n > 0 ? check.index[n - 1] : 0,
    indexEntries: n / 2,
    truncatedBytes: check.fileSize - check.goodEnd,
    stop: check.stop,
  };
}

/**
 * Brings a sealed segment's index up to date with its log (an index can be missing or
 * short after a crash) without changing the log: a sealed segment was complete and
 * durable before the next segment was created.
 */
export async function recoverSealedSegment(dir: string, base: number): Promise<RecoveredSegment> {
  return checkSealedSegment(dir, base);
}

async function checkSealedSegment(dir: string, base: number): Promise<RecoveredSegment> {
  const fh = await open(segmentLogPath(dir, base), 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const indexPath = segmentIndexPath(dir, base);
    const indexBytes = await readFile(indexPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    });
    const entries = parseIndex(indexBytes);
    let kept = entries.length / 2;
    while (kept > 0 && entries[kept * 2 - 1] >= fileSize) kept--;

    // Start at the last index entry that really points at its record.
    let start = 0;
    let expected = base;
    while (kept > 0) {
      const rel = entries[kept * 2 - 2];
      const pos = entries[kept * 2 - 1];
      if ((await offsetOfFrameAt(fh, pos)) === base + rel) {
        start = pos;
        expected = base + rel;
        break;
      }
      kept--;
    }
    const indexIntact = kept === entries.length / 2 && indexBytes.length === kept * INDEX_ENTRY_BYTES;
    if (indexIntact && kept > 0) {
      // A sealed segment whose index checks out is trusted to its end: the last entry is
      // within ~4 KiB of it, and readers check frames anyway. Only its size is needed.
      return {
        base,
        size: fileSize,
        nextOffset: -1,
        lastIndexedPosition: start,
        indexEntries: kept,
        truncatedBytes: 0,
        stop: 'end',
      };
    }

    let lastIndexed = start;
    const added: number[] = [];
    const res = await scanFrames(fh, start, (buf, p, _size, filePos) => {
      if (frameOffset(buf, p) !== expected) return false;
      if (filePos - lastIndexed >= INDEX_INTERVAL_BYTES) {
        added.push(expected - base, filePos);
        lastIndexed = filePos;
      }
      expected++;
      return true;
    });
    if (!indexIntact || added.length > 0) {
      await rewriteIndexTail(indexPath, kept, added);
    }
    return {
      base,
      size: fileSize,
      nextOffset: expected,
      lastIndexedPosition: lastIndexed,
      indexEntries: kept + added.length / 2,
      truncatedBytes: 0,
      stop: res.stop,
    };
  } finally {
    await fh.close();
  }
}

/** Cuts the index file to its first `kept` entries and appends `added`, then syncs it. */
async function rewriteIndexTail(indexPath: string, kept: number, added: number[]): Promise<void> {
  const ifh = await open(indexPath, constants.O_RDWR | constants.O_CREAT);
  try {
    await ifh.truncate(kept * INDEX_ENTRY_BYTES);
    if (added.length > 0) {
      const bytes = encodeIndexEntries(added);
      await ifh.write(bytes, 0, bytes.length, kept * INDEX_ENTRY_BYTES);
    }
    await ifh.datasync();
  } finally {
    await ifh.close();
  }
}
