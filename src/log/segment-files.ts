/**
 * Names and places of the files of a partition log:
 *
 * ```
 * <data-dir>/meta.json                      partition count (log-meta.ts)
 * <data-dir>/writer.lock                    the one writer process (writer-lock.ts)
 * <data-dir>/commit-marks                   durable end of each partition (commit-marks.ts)
 * <data-dir>/journal                        one fdatasync per commit (commit-journal.ts)
 * <data-dir>/partition-N/<base>.log         segment: frames (record-frame.ts)
 * <data-dir>/partition-N/<base>.index       its sparse offset index (offset-index.ts)
 * ```
 *
 * `<base>` is the offset of the segment's first record, zero-padded to 20 digits, so a
 * plain name sort is an offset sort.
 */
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

export const LOG_SUFFIX = '.log';
export const INDEX_SUFFIX = '.index';
const NAME_DIGITS = 20;
const SEGMENT_RE = /^(\d{20})\.(log|index)$/;

/** Directory of partition `partition` under `dataDir`. */
export function partitionDir(dataDir: string, partition: number): string {
  return path.join(dataDir, `partition-${partition}`);
}

/** File name stem of the segment whose first offset is `base`. */
export function segmentStem(base: number): string {
  return String(base).padStart(NAME_DIGITS, '0');
}

/** Path of the log file of segment `base` in `dir`. */
export function segmentLogPath(dir: string, base: number): string {
  return path.join(dir, segmentStem(base) + LOG_SUFFIX);
}

/** Path of the index file of segment `base` in `dir`. */
export function segmentIndexPath(dir: string, base: number): string {
  return path.join(dir, segmentStem(base) + INDEX_SUFFIX);
}

/** Base offsets of the `.log` and `.index` files in a partition directory, each sorted. */
export interface SegmentListing {
  logs: number[];
  indexes: number[];
}

/**
 * Lists the segment files of a partition directory as they are now (a writer may roll or
 * retention may delete right after). A missing directory lists as empty.
 */
export async function listSegments(dir: string): Promise<SegmentListing> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { logs: [], indexes: [] };
    throw err;
  }
  const logs: number[] = [];
  const indexes: number[] = [];
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (!m) continue;
    (m[2] === 'log' ? logs : indexes).push(Number(m[1]));
  }
  logs.sort((a, b) => a - b);
  indexes.sort((a, b) => a - b);
  return { logs, indexes };
}

/**
 * fsyncs a directory so that files created, renamed or deleted in it stay so after a
 * crash: fdatasync of a new file does not make its directory entry durable.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
