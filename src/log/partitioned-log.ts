/**
 * The durable partitioned log over a data dir: N partitions, each a sequence of segment
 * files with offsets from 0 (see segment-files.ts for the layout). One writer per data dir
 * (writer.lock), one append at a time (the owner thread's group commit).
 */
import type { AppendResult, SinkRecord } from '../sink/sink.ts';
import { CommitMarksWriter } from './commit-marks.ts';
import { ensureMeta } from './log-meta.ts';
import { PartitionWriter } from './partition-writer.ts';
import type { PartitionRecovery } from './partition-writer.ts';
import { MAX_FRAME_BYTES, encodeFrame, frameSize } from './record-frame.ts';
import { fsyncDir } from './segment-files.ts';
import { WriterLock } from './writer-lock.ts';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Largest segmentBytes accepted: keeps file positions well inside the index's u32. */
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;

export interface PartitionedLogOptions {
  /** Partition count; fixed for the life of the data dir (checked against meta.json). */
  partitions: number;
  /** Segment size at which the active segment is rolled (default 64 MiB). */
  segmentBytes?: number;
  /** Per-partition size cap; oldest whole segments are deleted past it (default: none). */
  retentionBytes?: number;
}

/** Thrown by append() when called while a previous append is still in flight. */
export class ConcurrentAppendError extends Error {
  override name = 'ConcurrentAppendError';
}

/** A partitioned, segmented, fdatasync'd log. Open with PartitionedLog.open. */
export class PartitionedLog {
  readonly dataDir: string;
  readonly partitions: number;
  readonly segmentBytes: number;
  readonly retentionBytes: number;
  readonly #writers: PartitionWriter[];
  readonly #marks: CommitMarksWriter;
  readonly #lock: WriterLock;
  #appending: Promise<AppendResult> | null = null;
  #closed = false;
  /** Partitions whose last commit failed (cleared by their next successful commit). */
  readonly #failing = new Set<number>();

  private constructor(
    dataDir: string,
    opts: Required<PartitionedLogOptions>,
    writers: PartitionWriter[],
    marks: CommitMarksWriter,
    lock: WriterLock,
  ) {
    this.dataDir = dataDir;
    this.partitions = opts.partitions;
    this.segmentBytes = opts.segmentBytes;
    this.retentionBytes = opts.retentionBytes;
    this.#writers = writers;
    this.#marks = marks;
    this.#lock = lock;
  }

  /**
   * Opens (creating if new) the log in `dataDir`: checks meta.json's partition count
   * (throws LogMetaMismatchError on a different one), takes the writer lock (throws
   * LogLockedError if another process or thread has it), recovers every partition
   * (truncating torn tails) and applies retention.
   */
  static async open(dataDir: string, options: PartitionedLogOptions): Promise<PartitionedLog> {
    const opts = checkOptions(options);
    await ensureMeta(dataDir, opts.partitions);
    const lock = await WriterLock.acquire(dataDir);
    const opened = await Promise.allSettled(
      Array.from({ length: opts.partitions }, (_, p) =>
        PartitionWriter.open(dataDir, p, { segmentBytes: opts.segmentBytes, retentionBytes: opts.retentionBytes }),
      ),
    );
    const writers: PartitionWriter[] = [];
    let failure: unknown = null;
    for (const r of opened) {
      if (r.status === 'fulfilled') writers.push(r.value);
      else failure ??= r.reason;
    }
    let marks: CommitMarksWriter | null = null;
    if (failure === null) {
      try {
        await fsyncDir(dataDir);
        marks = await CommitMarksWriter.open(
          dataDir,
          writers.map((w) => w.nextOffset),
        );
      } catch (err) {
        failure = err;
      }
    }
    if (failure !== null || marks === null) {
      await Promise.all(writers.map((w) => w.close().catch(() => {})));
      await lock.release().catch(() => {});
      throw failure;
    }
    return new PartitionedLog(dataDir, opts, writers, marks, lock);
  }

  /** What recovery found per partition at open (for the start-up log). */
  get recovery(): PartitionRecovery[] {
    return this.#writers.map((w) => w.recovery);
  }

  /** Offset the next record appended to `partition` gets. */
  nextOffset(partition: number): number {
    return this.#writers[partition].nextOffset;
  }

  /** Oldest offset of `partition` still retained. */
  startOffset(partition: number): number {
    return this.#writers[partition].startOffset;
  }

  /** Base offsets of `partition`'s segments, oldest first (for tests and diagnostics). */
  segmentBases(partition: number): number[] {
    return this.#writers[partition].segmentBases;
  }

  /** Whether the last commit of some partition failed (an append now would likely fail too). */
  get failing(): boolean {
    return this.#failing.size > 0;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Makes `batch` durable: groups it by partition, encodes each partition's frames into one
   * buffer, writes it with one write and fdatasyncs it, all partitions in parallel. Resolves
   * with offsets in batch order; a record of a partition whose write or fdatasync failed,
   * or an invalid record (bad partition, too large), gets -1 and `error` says why. Never
   * rejects for I/O errors. Must not be called again before it resolved (the owner's group
   * commit): a concurrent call rejects with ConcurrentAppendError.
   */
  append(batch: SinkRecord[]): Promise<AppendResult> {
    if (this.#appending !== null) {
      return Promise.reject(
        new ConcurrentAppendError('PartitionedLog.append called while a previous append is in flight'),
      );
    }
    const p = this.#append(batch).finally(() => {
      this.#appending = null;
    });
    this.#appending = p;
    return p;
  }

  /** Waits for an append in flight, then syncs the indexes, closes files, drops the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#appending !== null) await this.#appending.catch(() => {});
    await Promise.all(this.#writers.map((w) => w.close()));
    await this.#marks.close().catch(() => {});
    await this.#lock.release();
  }

  async #append(batch: SinkRecord[]): Promise<AppendResult> {
    const n = batch.length;
    const offsets = new Float64Array(n);
    if (this.#closed) {
      offsets.fill(-1);
      return { offsets, error: 'log is closed' };
    }
    const partitions = this.partitions;
    const bytes = new Float64Array(partitions);
    const counts = new Int32Array(partitions);
    const errors: string[] = [];
    // Pass 1: sizes per partition, and reject what cannot be written at all.
    for (let i = 0; i < n; i++) {
      const rec = batch[i];
      const p = rec.partition;
      if (!(Number.isInteger(p) && p >= 0 && p < partitions)) {
        offsets[i] = -1;
        errors.push(`record ${i}: partition ${p} is not in [0, ${partitions})`);
        continue;
      }
      const size = frameSize(rec.key.length, rec.value.length);
      if (size > MAX_FRAME_BYTES) {
        offsets[i] = -1;
        errors.push(`record ${i}: ${size} bytes framed exceeds the ${MAX_FRAME_BYTES}-byte maximum`);
        continue;
      }
      bytes[p] += size;
      counts[p]++;
    }
    // Pass 2: one buffer per touched partition, frames numbered from its next offset.
    const buffers: (Buffer | undefined)[] = new Array(partitions);
    const cursors = new Float64Array(partitions);
    const next = new Float64Array(partitions);
    for (let p = 0; p < partitions; p++) {
      if (counts[p] > 0) {
        buffers[p] = Buffer.allocUnsafe(bytes[p]);
        next[p] = this.#writers[p].nextOffset;
      }
    }
    for (let i = 0; i < n; i++) {
      if (offsets[i] === -1) continue;
      const rec = batch[i];
      const p = rec.partition;
      offsets[i] = next[p];
      cursors[p] = encodeFrame(buffers[p] as Buffer, cursors[p], next[p]++, rec);
    }
    // Pass 3: write + fdatasync every touched partition in parallel.
    const commits: Promise<void>[] = [];
    const failed = new Set<number>();
    for (let p = 0; p < partitions; p++) {
      if (counts[p] === 0) continue;
      const part = p;
      commits.push(
        this.#writers[p].commit(buffers[p] as Buffer, counts[p]).then(
          () => {
            this.#failing.delete(part);
            this.#marks.set(part, this.#writers[part].nextOffset);
          },
          (err: Error) => {
            failed.add(part);
            this.#failing.add(part);
            errors.push(`partition ${part}: ${err.message}`);
          },
        ),
      );
    }
    await Promise.all(commits);
    // Before resolving: an acknowledged record must be visible to readers.
    if (failed.size < commits.length) await this.#marks.publish();
    if (failed.size > 0) {
      for (let i = 0; i < n; i++) if (failed.has(batch[i].partition)) offsets[i] = -1;
    }
    return errors.length > 0 ? { offsets, error: summarize(errors) } : { offsets };
  }
}

/** Joins error messages, keeping the result short when thousands of records failed alike. */
function summarize(errors: string[]): string {
  const MAX = 8;
  const shown = errors.slice(0, MAX).join('; ');
  return errors.length > MAX ? `${shown}; and ${errors.length - MAX} more` : shown;
}

function checkOptions(o: PartitionedLogOptions): Required<PartitionedLogOptions> {
  const segmentBytes = o.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const retentionBytes = o.retentionBytes ?? Infinity;
  if (!Number.isInteger(o.partitions) || o.partitions < 1) {
    throw new RangeError(`partitions must be a positive integer, got ${o.partitions}`);
  }
  if (!Number.isInteger(segmentBytes) || segmentBytes < 1 || segmentBytes > MAX_SEGMENT_BYTES) {
    throw new RangeError(`segmentBytes must be an integer in [1, ${MAX_SEGMENT_BYTES}], got ${segmentBytes}`);
  }
  if (!(retentionBytes >= 0)) {
    throw new RangeError(`retentionBytes must be >= 0 (or Infinity), got ${retentionBytes}`);
  }
  return { partitions: o.partitions, segmentBytes, retentionBytes };
}
