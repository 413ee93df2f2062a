/**
 * The durable partitioned log over a data dir: N partitions, each a sequence of segment
 * files with offsets from 0 (see segment-files.ts for the layout), and a commit journal that
 * makes a commit durable with one fdatasync (commit-journal.ts). One writer per data dir
 * (writer.lock), one append at a time (the owner thread's group commit).
 */
import { doubledCapacity } from '../records/grow-buffer.ts';
import type { AppendResult, SinkRecord } from '../sink/sink.ts';
import { settlesWithin } from '../sink/settles-within.ts';
import { CommitJournal, DEFAULT_JOURNAL_BYTES, MIN_JOURNAL_BYTES, removeJournal, replayJournal } from './commit-journal.ts';
import type { JournalPart, JournalReplay } from './commit-journal.ts';
import { CommitMarksWriter, readCommitMarks } from './commit-marks.ts';
import { ensureMeta } from './log-meta.ts';
import { countLost, readLostOffsets, writeLostOffsets } from './lost-offsets.ts';
import { DataLossError, describeLost, PartitionWriter } from './partition-writer.ts';
import { PreallocationPolicy } from './preallocation.ts';
import type { PartitionRecovery } from './partition-writer.ts';
import { MAX_FRAME_BYTES, encodeFrame, frameSize } from './record-frame.ts';
import { fsyncDir } from './segment-files.ts';
import { StallWatch, type DiskWorkSignal } from './stall-watch.ts';
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
  /**
   * Start even when recovery finds acknowledged records missing or damaged (default
   * false: open throws DataLossRefusedError). The loss is recorded in lost-offsets.json.
   */
  acceptDataLoss?: boolean;
  /**
   * Told of every problem of the log (err; `repeated` when the same kind already failed
   * on that partition and has not worked since), and when it is gone (null): a failed
   * segment write, a failed write or sync of the commit marks, of an index, or of a
   * retention delete (partition -1 for the marks, which are shared).
   */
  onProblem?: (kind: LogProblemKind, partition: number, err: Error | null, repeated: boolean) => void;
  /**
   * An append still in flight after this many ms (its write or fdatasync has not returned:
   * a disk that stopped answering) is reported as problem 'stall' and `stalled` is true
   * until it completes (default 5000; Infinity: never).
   */
  stallTimeoutMs?: number;
  /** Told when the log's disk work begins and ends (StallWatch's `signal`). */
  diskWork?: DiskWorkSignal;
  /**
   * Size the commit journal may grow to (default 16 MiB; 0: no journal, every touched
   * partition is fdatasync'd itself). With it, a commit that touches several partitions
   * costs one fdatasync (commit-journal.ts).
   */
  journalBytes?: number;
}

/** Steps whose failure does not fail an append but must not go unnoticed. */
export type LogProblemKind = 'write' | 'commit-marks' | 'index' | 'retention' | 'stall' | 'journal';

export const DEFAULT_STALL_TIMEOUT_MS = 5000;

/**
 * Thrown by open when acknowledged records are missing or damaged and acceptDataLoss is
 * off. Nothing was changed on disk.
 */
export class DataLossRefusedError extends Error {
  override name = 'DataLossRefusedError';
  readonly losses: DataLossError[];
  constructor(dataDir: string, losses: DataLossError[]) {
    super(
      `data dir ${dataDir}: acknowledged records are missing or damaged: ` +
        losses.map((l) => `partition ${l.partition}: ${describeLost(l.lost)}`).join('; ') +
        `. Refusing to start, so that nothing is overwritten and no offset is handed out twice. ` +
        `Inspect or restore the data dir, or start with --accept-data-loss to record the loss ` +
        `(lost-offsets.json) and continue after the last acknowledged offset.`,
    );
    this.losses = losses;
  }
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
  /** Null when opened with journalBytes 0. */
  #journal: CommitJournal | null = null;
  #appending: Promise<AppendResult> | null = null;
  /** Watches the append in flight (see stallTimeoutMs); set by open(). */
  #stallWatch: StallWatch | null = null;
  /**
   * Per partition, the buffer its frames are encoded into, reused by every append (appends
   * never overlap, and a commit keeps no reference to its frames once it resolved): a
   * fresh buffer per partition per commit is memory outside V8's heap, which V8 collects
   * with full mark-compacts of the owner thread (src/records/payload-slabs.ts).
   */
  readonly #frameBuffers: Buffer[];
  #closed = false;
  /** close()'s work, once called (every later call waits for the same). */
  #closing: Promise<void> | null = null;
  /** Partitions whose last commit failed (cleared by their next successful commit). */
  readonly #failing = new Set<number>();

  private constructor(
    dataDir: string,
    opts: CheckedOptions,
    writers: PartitionWriter[],
    marks: CommitMarksWriter,
    lock: WriterLock,
  ) {
    this.dataDir = dataDir;
    this.partitions = opts.partitions;
    this.segmentBytes = opts.segmentBytes;
    this.retentionBytes = opts.retentionBytes;
    this.#writers = writers;
    this.#frameBuffers = new Array<Buffer>(this.#writers.length);
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
    let acked: (number | null)[];
    let known: Awaited<ReturnType<typeof readLostOffsets>>;
    let journaled: Awaited<ReturnType<typeof replayJournal>>;
    try {
      acked = await readCommitMarks(dataDir, opts.partitions);
      known = await readLostOffsets(dataDir);
      // Before anything looks at the segments: frames acknowledged through the journal but
      // not yet synced in their segments go back where they were written.
      journaled = await replayJournal(dataDir, opts.partitions);
    } catch (err) {
      await lock.release().catch(() => {});
      throw err;
    }
    const acceptDataLoss = options.acceptDataLoss ?? false;
    const preallocation = new PreallocationPolicy();
    const opened = await Promise.allSettled(
      Array.from({ length: opts.partitions }, (_, p) =>
        PartitionWriter.open(
          dataDir,
          p,
          { segmentBytes: opts.segmentBytes, retentionBytes: opts.retentionBytes, preallocation },
          { acked: acked[p] ?? 0, known: known.get(p) ?? [], acceptDataLoss },
        ),
      ),
    );
    const writers: PartitionWriter[] = [];
    const refused: DataLossError[] = [];
    let failure: unknown = null;
    for (const r of opened) {
      if (r.status === 'fulfilled') writers.push(r.value);
      else if (r.reason instanceof DataLossError) refused.push(r.reason);
      else failure ??= r.reason;
    }
    if (failure === null && refused.length > 0) failure = new DataLossRefusedError(dataDir, refused);
    let marks: CommitMarksWriter | null = null;
    let journal: CommitJournal | null = null;
    if (failure === null) {
      try {
        const newly = writers.filter((w) => w.recovery.newlyLost.length > 0);
        if (newly.length > 0) {
          // On record before the marks move past the loss: a later start must not refuse again.
          const at = new Date().toISOString();
          for (const w of newly) {
            known.set(w.partition, [...(known.get(w.partition) ?? []), ...w.recovery.newlyLost.map((r) => ({ ...r, acceptedAt: at }))]);
          }
          await writeLostOffsets(dataDir, known);
        }
        await fsyncDir(dataDir);
        marks = await CommitMarksWriter.open(
          dataDir,
          writers.map((w) => w.nextOffset),
        );
        if (opts.journalBytes > 0) {
          journal = await CommitJournal.create(dataDir, opts.journalBytes, journaled.header, opts.partitions, preallocation, () =>
            Promise.all(writers.map((w) => w.syncData())).then(() => {}),
          );
        } else if (journaled.header !== null) {
          await removeJournal(dataDir);
        }
      } catch (err) {
        failure = err;
      }
    }
    if (failure !== null || marks === null) {
      await marks?.close().catch(() => {});
      await Promise.all(writers.map((w) => w.close().catch(() => {})));
      await lock.release().catch(() => {});
      throw failure;
    }
    const log = new PartitionedLog(dataDir, opts, writers, marks, lock);
    log.#journal = journal;
    log.journalReplay = journaled.replay;
    if (journal !== null) journal.onProblem = (err) => log.#problem('journal', -1, err);
    log.#onProblem = options.onProblem ?? null;
    log.lostRecords = writers.map((w) => countLost(known, w.partition));
    marks.onError = (err) => log.#problem('commit-marks', -1, err);
    for (const w of writers) w.onProblem = (kind, err) => log.#problem(kind, w.partition, err);
    log.#stallWatch = new StallWatch(
      opts.stallTimeoutMs,
      (waited) => log.#problem('stall', -1, new Error(`a commit has waited ${Math.round(waited)} ms for its write and fdatasync to return`)),
      () => log.#problem('stall', -1, null),
      opts.diskWork,
    );
    return log;
  }

  /** Per partition: acknowledged records recorded as lost (lost-offsets.json) as of open. */
  lostRecords: number[] = [];
  /** What the journal's replay wrote back into the segments at open. */
  journalReplay: JournalReplay = { entries: 0, records: 0, bytes: 0 };
  #onProblem: PartitionedLogOptions['onProblem'] | null = null;
  /** Problems reported and not yet gone, by "kind/partition". */
  readonly #problems = new Set<string>();

  #problem(kind: LogProblemKind, partition: number, err: Error | null): void {
    const key = `${kind}/${partition}`;
    const repeated = this.#problems.has(key);
    if (err === null) {
      if (!this.#problems.delete(key)) return;
    } else {
      this.#problems.add(key);
    }
    this.#onProblem?.(kind, partition, err, repeated);
  }

  /**
   * Whether the commit marks cannot be written: records are still made durable, but
   * readers in other processes do not see them, so consumers stall. The gateway reports
   * not ready (/readyz 503) until a write works again.
   */
  get marksFailing(): boolean {
    return this.#problems.has('commit-marks/-1');
  }

  /**
   * Whether the append in flight (or close()'s disk work) has waited longer than
   * stallTimeoutMs for the disk; stale by up to a quarter of it (at most a second).
   */
  get stalled(): boolean {
    return this.#stallWatch?.stalled ?? false;
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
   * buffer and writes it to the partition's segment; then one fdatasync, of the journal when
   * several partitions were touched (all of them fail together if it fails), else of the one
   * segment (without a journal: every touched segment, in parallel). Resolves with offsets in
   * batch order; a record of a partition whose write or fdatasync failed, or an invalid
   * record (bad partition, too large), gets -1 and `error` says why. Never
   * rejects for I/O errors. Must not be called again before it resolved (the owner's group
   * commit): a concurrent call rejects with ConcurrentAppendError.
   */
  append(batch: SinkRecord[]): Promise<AppendResult> {
    if (this.#appending !== null) {
      return Promise.reject(
        new ConcurrentAppendError('PartitionedLog.append called while a previous append is in flight'),
      );
    }
    this.#stallWatch?.begin();
    const p = this.#append(batch).finally(() => {
      this.#appending = null;
      this.#stallWatch?.end();
    });
    this.#appending = p;
    return p;
  }

  /**
   * Waits for an append in flight, then syncs the indexes, closes files, drops the lock;
   * appends fail from the call on. Resolves true once closed. Without `deadline`
   * (Date.now() time) it waits however long the disk takes. With one, once it has passed,
   * it stops waiting on a disk that stopped answering (the append or the close's own disk
   * work has waited past stallTimeoutMs; `stalled` is stale by up to a quarter of it) and
   * resolves false: disk work cannot be cancelled, so the files are left as a crash leaves
   * them, for the next open to recover, and `stalled` stays true. A slow disk is waited for.
   */
  close(deadline?: number): Promise<boolean> {
    this.#closing ??= this.#closeFiles();
    if (deadline === undefined) return this.#closing.then(() => true);
    return this.#closeBy(this.#closing, deadline);
  }

  async #closeBy(closing: Promise<void>, deadline: number): Promise<boolean> {
    while (!(await settlesWithin(closing, Math.max(deadline - Date.now(), STALL_POLL_MS)))) {
      if (this.stalled && Date.now() >= deadline) return false;
    }
    return true;
  }

  async #closeFiles(): Promise<void> {
    this.#closed = true;
    if (this.#appending !== null) await this.#appending.catch(() => {});
    // Watched like an append: a close with a deadline tells a stalled disk from a slow one.
    this.#stallWatch?.begin();
    try {
      // Its last checkpoint syncs the segments, so before they close.
      await this.#journal?.close().catch(() => {});
      await Promise.all(this.#writers.map((w) => w.close()));
      await this.#marks.close().catch(() => {});
      await this.#lock.release();
    } finally {
      this.#stallWatch?.end();
      this.#stallWatch?.close();
    }
  }

  /** `size` bytes of partition `p`'s reused frame buffer (a one-off past REUSED_FRAME_BYTES). */
  #frameBuffer(p: number, size: number): Buffer {
    if (size > REUSED_FRAME_BYTES) return Buffer.allocUnsafe(size);
    let buf = this.#frameBuffers[p];
    if (buf === undefined || buf.length < size) {
      buf = this.#frameBuffers[p] = Buffer.allocUnsafeSlow(doubledCapacity(64 * 1024, size));
    }
    return buf.subarray(0, size);
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
    let touched = 0;
    let frameBytes = 0;
    for (let p = 0; p < partitions; p++) {
      if (counts[p] > 0) {
        buffers[p] = this.#frameBuffer(p, bytes[p]);
        next[p] = this.#writers[p].nextOffset;
        touched++;
        frameBytes += bytes[p];
      }
    }
    for (let i = 0; i < n; i++) {
      if (offsets[i] === -1) continue;
      const rec = batch[i];
      const p = rec.partition;
      offsets[i] = next[p];
      cursors[p] = encodeFrame(buffers[p] as Buffer, cursors[p], next[p]++, rec);
    }
    // Pass 3: make every touched partition durable: with one fdatasync of the journal when
    // several are touched, else each with its own (one partition alone costs one either way,
    // and its frames are then written once, not twice).
    const failed = new Set<number>();
    if (await this.#journalRepaired(counts, failed, errors)) {
      if (this.#journal !== null && touched > 1 && this.#journal.fits(touched, frameBytes)) {
        await this.#commitJournaled(this.#journal, buffers, counts, failed, errors);
      } else {
        await this.#commitEach(buffers, counts, failed, errors);
      }
    }
    // Before resolving: an acknowledged record must be visible to readers.
    if (failed.size < touched) {
      await this.#marks.publish();
      if (this.#marks.lastError === null) this.#problem('commit-marks', -1, null);
    }
    if (failed.size > 0) {
      for (let i = 0; i < n; i++) if (failed.has(batch[i].partition)) offsets[i] = -1;
    }
    return errors.length > 0 ? { offsets, error: summarize(errors) } : { offsets };
  }

  /**
   * Whether the journal (if any) has no failed entry left to erase (see
   * CommitJournal.repaired). When it has and erasing fails again, no partition is written
   * to: every touched one fails with the journal's error.
   */
  async #journalRepaired(counts: Int32Array, failed: Set<number>, errors: string[]): Promise<boolean> {
    if (this.#journal === null) return true;
    try {
      await this.#journal.repaired();
      return true;
    } catch (err) {
      const e = journalError(err as Error);
      for (let p = 0; p < this.partitions; p++) if (counts[p] > 0) this.#notCommitted(p, e, failed, errors);
      return false;
    }
  }

  /** Pass 3 without the journal: every touched partition written and fdatasync'd itself, in parallel. */
  async #commitEach(buffers: (Buffer | undefined)[], counts: Int32Array, failed: Set<number>, errors: string[]): Promise<void> {
    const commits: Promise<void>[] = [];
    for (let p = 0; p < this.partitions; p++) {
      if (counts[p] === 0) continue;
      const part = p;
      commits.push(
        this.#writers[p].commit(buffers[p] as Buffer, counts[p]).then(
          () => this.#committed(part),
          (err: Error) => this.#notCommitted(part, err, failed, errors),
        ),
      );
    }
    await Promise.all(commits);
  }

  /**
   * Pass 3 through the journal: every partition's frames written to its segment unsynced
   * (stage), then all of them in one journal entry and one fdatasync; a partition whose own
   * write failed is left out, and if the journal fails, every partition of the entry fails.
   */
  async #commitJournaled(journal: CommitJournal, buffers: (Buffer | undefined)[], counts: Int32Array, failed: Set<number>, errors: string[]): Promise<void> {
    const staging: Promise<JournalPart | null>[] = [];
    for (let p = 0; p < this.partitions; p++) {
      if (counts[p] === 0) continue;
      const part = p;
      const w = this.#writers[p];
      const frames = buffers[p] as Buffer;
      staging.push(
        w.stage(frames).then(
          (position) => ({ partition: part, base: w.activeBase, position, frames, count: counts[part] }),
          (err: Error) => {
            this.#notCommitted(part, err, failed, errors);
            return null;
          },
        ),
      );
    }
    const parts = (await Promise.all(staging)).filter((s): s is JournalPart => s !== null);
    if (parts.length === 0) return;
    try {
      await journal.write(parts);
    } catch (err) {
      const e = journalError(err as Error);
      await Promise.all(parts.map((s) => this.#writers[s.partition].abandon(err as Error)));
      for (const s of parts) this.#notCommitted(s.partition, e, failed, errors);
      return;
    }
    await Promise.all(parts.map((s) => this.#writers[s.partition].settle(s.frames, s.position, s.count).then(() => this.#committed(s.partition))));
  }

  /** Partition `p`'s records of this append are durable. */
  #committed(p: number): void {
    if (this.#failing.delete(p)) this.#problem('write', p, null);
    this.#marks.set(p, this.#writers[p].nextOffset);
  }

  /** Partition `p`'s records of this append are not: they get -1, and `err` is reported. */
  #notCommitted(p: number, err: Error, failed: Set<number>, errors: string[]): void {
    failed.add(p);
    this.#failing.add(p);
    this.#problem('write', p, err);
    errors.push(`partition ${p}: ${err.message}`);
  }
}

/** `err` of the journal as a partition's commit error: named, with its errno code kept. */
function journalError(err: Error): Error {
  return Object.assign(new Error(`journal: ${err.message}`), { code: (err as NodeJS.ErrnoException).code });
}

/** Largest frame buffer a partition keeps for reuse; a bigger commit allocates its own. */
const REUSED_FRAME_BYTES = 4 * 1024 * 1024;

/** How often a close past its deadline looks whether the disk is known to have stalled. */
const STALL_POLL_MS = 100;

/** Joins error messages, keeping the result short when thousands of records failed alike. */
function summarize(errors: string[]): string {
  const MAX = 8;
  const shown = errors.slice(0, MAX).join('; ');
  return errors.length > MAX ? `${shown}; and ${errors.length - MAX} more` : shown;
}

/** The options with their defaults filled in; only the signal stays optional. */
type CheckedOptions = Required<Omit<PartitionedLogOptions, 'diskWork'>> & Pick<PartitionedLogOptions, 'diskWork'>;

function checkOptions(o: PartitionedLogOptions): CheckedOptions {
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
  const stallTimeoutMs = o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  if (!(stallTimeoutMs > 0)) {
    throw new RangeError(`stallTimeoutMs must be > 0 (or Infinity), got ${stallTimeoutMs}`);
  }
  const journalBytes = o.journalBytes ?? DEFAULT_JOURNAL_BYTES;
  if (!(journalBytes === 0 || (Number.isInteger(journalBytes) && journalBytes >= MIN_JOURNAL_BYTES && journalBytes <= MAX_SEGMENT_BYTES))) {
    throw new RangeError(`journalBytes must be 0 (no journal) or an integer in [${MIN_JOURNAL_BYTES}, ${MAX_SEGMENT_BYTES}], got ${journalBytes}`);
  }
  return { partitions: o.partitions, segmentBytes, retentionBytes, acceptDataLoss: o.acceptDataLoss ?? false, onProblem: o.onProblem ?? (() => {}), stallTimeoutMs, journalBytes, diskWork: o.diskWork };
}

/**
 * The error line of a close() that resolved false, for the log named `what` ("the log",
 * "the kafka spill"): one wording wherever a log is given up on.
 */
export function gaveUpOnDiskLine(what: string): string {
  return `closing ${what}: the disk still has not answered at the flush deadline; gave up waiting. ` +
    'The data dir is left as after a crash (the next start recovers it); the process ends when the kernel returns the stuck call';
}
