/**
 * Recovery of a partition's segments when the writer opens the log.
 *
 * Where verification starts: at the last index entry of the active segment that points at
 * a good frame carrying the offset the entry claims. Index entries are only written after
 * their records were fdatasync'd, so everything before that entry is durable data. After a
 * clean shutdown the index is complete and at most ~4 KiB is checked; after a crash the
 * index may lag the log (it is not fsync'd per append) and the scan is longer, at worst the
 * whole active segment. No clean-shutdown marker is used: the index-based start already
 * makes a clean restart cheap, and a marker would be one more thing that could lie.
 *
 * The scan stops at the first frame that is incomplete, fails its CRC or header checks, or
 * does not carry the next offset; the file is truncated there and the index is cut to the
 * entries that point below that position, then completed for the scanned frames.
 */
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { offsetOfFrameAt, scanFrames } from './frame-scan.ts';
import type { ScanStop } from './frame-scan.ts';
import { INDEX_ENTRY_BYTES, INDEX_INTERVAL_BYTES, encodeIndexEntries, parseIndex } from './offset-index.ts';
import { frameOffset } from './record-frame.ts';
import { segmentIndexPath, segmentLogPath } from './segment-files.ts';

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

/**
 * Verifies and repairs the active (last) segment `base` of partition directory `dir`:
 * truncates a torn/corrupt tail, makes the index consistent with the log, and reports
 * where appending continues. Both files are fdatasync'd when changed.
 */
export async function recoverActiveSegment(dir: string, base: number): Promise<RecoveredSegment> {
  return checkSegment(dir, base, true);
}

/**
 * Brings a sealed segment's index up to date with its log (an index can be missing or
 * short after a crash) without changing the log: a sealed segment was complete and
 * durable before the next segment was created.
 */
export async function recoverSealedSegment(dir: string, base: number): Promise<RecoveredSegment> {
  return checkSegment(dir, base, false);
}

async function checkSegment(dir: string, base: number, truncate: boolean): Promise<RecoveredSegment> {
  const fh = await open(segmentLogPath(dir, base), truncate ? 'r+' : 'r');
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
    if (!truncate && indexIntact && kept > 0) {
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
    const good = res.position;
    if (truncate && good < fileSize) {
      await fh.truncate(good);
      await fh.datasync();
    }
    if (!indexIntact || added.length > 0) {
      await rewriteIndexTail(indexPath, kept, added);
    }
    return {
      base,
      size: truncate ? good : fileSize,
      nextOffset: expected,
      lastIndexedPosition: lastIndexed,
      indexEntries: kept + added.length / 2,
      truncatedBytes: truncate ? fileSize - good : 0,
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
