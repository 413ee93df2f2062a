/**
 * `--fallback file`: Kafka first, the local disk when Kafka is down.
 *
 * While Kafka is down (the primary sink is not ready, or an append's records failed and
 * left it not ready) records go to a spill: a PartitionedLog under
 * `<data-dir>/kafka-spill/` with the gateway's partition count (write + fdatasync, like
 * the file mode). They are answered spilled (AppendResult.spilled[i] = 1, offsets[i] = the
 * spill offset): durable here, in Kafka later. A record neither sent nor spilled gets -1.
 *
 * Order: while the spill holds anything not yet replayed, every new record goes to the
 * spill too, so no record overtakes an older one of its partition.
 *
 * Replay: once the primary is ready again, the spill is read in per-partition offset order
 * and sent in batches through the same primary sink. Every Kafka send (direct appends,
 * replay batches) runs in one FIFO lane on the owner thread, so two sends that could
 * reorder a partition never overlap. After each batch a per-partition cursor (first spill
 * offset not yet confirmed) is saved atomically (replay-cursor.ts). Delivery is
 * at-least-once: a crash (or a lost acknowledgement) between Kafka's ack and the cursor
 * save replays that last batch again, so Kafka may hold duplicates of it. When the cursor
 * reaches the spill's end the spill is closed, renamed away and removed, and appends go
 * straight to Kafka again. The last stretch of a replay (at most one batch) runs inside
 * an append: there no spill write can slip in between, so the replay cannot chase a
 * growing end forever under steady load.
 *
 * A record larger than Kafka takes (the primary's `refuses`: over --kafka-request-bytes)
 * is refused up front, in both paths: never spilled, never answered 202 (the gateway
 * answers 413). A record Kafka refuses while it stays ready is a problem of that record,
 * not an outage: a direct append answers it -1 (503) as without the fallback. A spilled
 * one (answered 202: it must never be dropped) is found by resending the failed batch one
 * record at a time and moved to the dead-letter log, `<data-dir>/kafka-dead-letter/` (a
 * partition log like the spill, same partition, key, value and timestamp), with an error
 * line; it would otherwise block its partition forever. The dead-letter log is never
 * replayed or deleted by the gateway: an operator reads it (`npm run consume -- --data-dir
 * <data-dir>/kafka-dead-letter`) and removes it; its size is on /metrics. When it cannot
 * be written, the replay stalls on that record (an error line) instead of skipping it.
 *
 * Start: a spill left by a previous run (crash or shutdown while Kafka was down) is
 * opened and replayed first; new records queue behind it in the spill. A spill (or
 * dead-letter log) whose acknowledged records the disk lost or damaged refuses to open, as
 * the file mode's log does, unless --accept-data-loss (acceptDataLoss): then the loss is
 * logged at error level and recorded, and the replay steps over the lost offsets.
 *
 * Disk problems of both logs are reported like the file mode's (log-problems.ts: an error
 * line naming the log, metricstream_log_errors_total). Disk work that waits past the stall
 * limit (a spill or dead-letter write, or the sink's own steps: opening a log, saving the
 * replay cursor, freeing the spill) holds the one lane, and with it every append, Kafka's
 * too: the sink is then stalled and not ready, so the workers refuse new requests at once.
 */
import { readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { reportLogProblems, reportRecovery } from '../log/log-problems.ts';
import { LogReader } from '../log/log-reader.ts';
import { DEFAULT_STALL_TIMEOUT_MS, gaveUpOnDiskLine, PartitionedLog, type LogProblemKind, type PartitionedLogOptions } from '../log/partitioned-log.ts';
import { fsyncDir } from '../log/segment-files.ts';
import { StallWatch, type DiskWorkSignal } from '../log/stall-watch.ts';
import type { AppendResult, Sink, SinkRecord } from '../sink/sink.ts';
import { settlesWithin } from '../sink/settles-within.ts';
import type { SinkLogger } from './kafkajs-log.ts';
import { REPLAY_CURSOR_FILE, readReplayCursor, writeReplayCursor } from './replay-cursor.ts';

/** Name of the spill directory inside the data dir. */
export const SPILL_DIR_NAME = 'kafka-spill';
/** Name of the dead-letter log (spilled records Kafka refused) inside the data dir. */
export const DEAD_LETTER_DIR_NAME = 'kafka-dead-letter';
const FREED_PREFIX = `${SPILL_DIR_NAME}.freed-`;

/** How the spill's and the dead-letter log's problem lines name them (`"log"` field). */
type DiskStepLog = 'kafka spill' | 'kafka dead-letter log';

/** Most replay batches one append runs to finish a replay before it spills instead. */
const CATCH_UP_STEPS = 4;

export interface FallbackSinkOptions {
  /** The spill lives in `<dataDir>/kafka-spill/`. */
  dataDir: string;
  /** The gateway's partition count: the spill's, fixed for its life. */
  partitions: number;
  logger: SinkLogger;
  /**
   * close(): how long to go on replaying while Kafka is up (default 5000). The primary's
   * own close (waiting for an in-flight replay batch) comes on top: give it the rest of
   * the flush budget.
   */
  replayAtCloseMs?: number;
  /** Most records in one replay batch (default 4096); also the size of the final catch-up. */
  maxReplayRecords?: number;
  /** Most value+key bytes in one replay batch (default 8 MiB). */
  maxReplayBytes?: number;
  /** How often the replay loop looks at the primary's readiness while it is down (default 200 ms). */
  pollMs?: number;
  /** Spill segment size (default: the log's). */
  segmentBytes?: number;
  /** A spill or dead-letter write in flight this long is a stall (default: the log's, 5 s). */
  stallTimeoutMs?: number;
  /** Told when the spill's and the dead-letter log's disk work begins and ends (StallWatch). */
  diskWork?: DiskWorkSignal;
  /** Open a spill or dead-letter log whose acknowledged records are lost (--accept-data-loss; default false). */
  acceptDataLoss?: boolean;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function failAll(n: number, error: string): AppendResult {
  return { offsets: new Float64Array(n).fill(-1), error };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Spilled records read for one replay batch, with their spill offsets. */
interface ReplayBatch {
  records: SinkRecord[];
  offsets: number[];
}

/** What FallbackSink needs of its primary: a Sink that may say which records it refuses. */
export type PrimarySink = Sink & {
  /** Whether append() would refuse this record for good (KafkaSink: larger than it sends). */
  refuses?(record: SinkRecord): boolean;
};

/**
 * Where a FallbackSink is in its shutdown:
 *
 *   open --giveUpRemote() or close()--> closing --close(): replay stopped or past its deadline--> closed
 *
 * closing: appends still go to Kafka or the spill, and the replay goes on until the close
 * deadline or until Kafka is not ready; closed: appends fail, the replay has stopped.
 */
type Lifecycle = 'open' | 'closing' | 'closed';

/** Kafka with a local spill log; see the module comment. */
export class FallbackSink implements Sink {
  readonly name: string;
  /** `<data-dir>/kafka-spill`. */
  readonly spillDir: string;
  readonly #primary: PrimarySink;
  /** `<data-dir>/kafka-dead-letter`, opened at start when it exists or at its first record. */
  readonly deadLetterDir: string;
  #deadLetter: PartitionedLog | null = null;
  #deadLetterRecords = 0;
  readonly #dataDir: string;
  readonly #partitions: number;
  readonly #log: SinkLogger;
  readonly #replayAtCloseMs: number;
  readonly #maxReplayRecords: number;
  readonly #maxReplayBytes: number;
  readonly #pollMs: number;
  readonly #segmentBytes: number | undefined;
  readonly #stallTimeoutMs: number;
  readonly #diskWork: DiskWorkSignal | undefined;
  readonly #acceptDataLoss: boolean;
  /** Per partition: spilled records found lost and accepted by this process (see lostRecords). */
  readonly #lost: number[];
  /** Problems of the spill and dead-letter logs, by kind (metricstream_log_errors_total). */
  readonly problems = new Map<LogProblemKind, number>();
  /** The sink's own disk steps outside the two logs' appends (see #onDisk). */
  readonly #diskWatch: StallWatch;
  /** What the disk step in flight does, for the stall's error line. */
  #diskStep = '';
  /** The log #diskStep works for, named in its stall lines. */
  #diskStepLog: DiskStepLog = 'kafka spill';
  /** One problem reporter per log, for its own appends and the sink's steps for it. */
  readonly #reports: Record<DiskStepLog, ReturnType<typeof reportLogProblems>>;
  #spill: PartitionedLog | null = null;
  #reader: LogReader | null = null;
  /** Per partition: first spill offset Kafka has not confirmed. */
  #cursor: number[] = [];
  #spillOpenError: string | null = null;
  /** Every primary append and spill write runs here, one after the other. */
  #lane: Promise<unknown> = Promise.resolve();
  #replayRunning = false;
  #replayDone: Promise<void> = Promise.resolve();
  #announced = false;
  #readFailureLogged = false;
  #nextStartPartition = 0;
  #lifecycle: Lifecycle = 'open';
  /** close() gave up on a spill or dead-letter log whose disk never answered: stays stalled. */
  #gaveUpOnDisk = false;
  #closeDeadline = Infinity;
  #wake: (() => void) | null = null;
  #removing: Promise<void> = Promise.resolve();
  #closeResult: Promise<number> | null = null;

  constructor(primary: PrimarySink, options: FallbackSinkOptions) {
    this.#primary = primary;
    this.name = primary.name;
    this.#dataDir = options.dataDir;
    this.spillDir = path.join(options.dataDir, SPILL_DIR_NAME);
    this.deadLetterDir = path.join(options.dataDir, DEAD_LETTER_DIR_NAME);
    this.#partitions = options.partitions;
    this.#log = options.logger;
    this.#replayAtCloseMs = options.replayAtCloseMs ?? 5000;
    this.#maxReplayRecords = options.maxReplayRecords ?? 4096;
    this.#maxReplayBytes = options.maxReplayBytes ?? 8 * 1024 * 1024;
    this.#pollMs = options.pollMs ?? 200;
    this.#segmentBytes = options.segmentBytes;
    this.#stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.#diskWork = options.diskWork;
    this.#acceptDataLoss = options.acceptDataLoss ?? false;
    this.#lost = new Array<number>(options.partitions).fill(0);
    const reports = (this.#reports = {
      'kafka spill': reportLogProblems(this.#log, this.problems, 'kafka spill'),
      'kafka dead-letter log': reportLogProblems(this.#log, this.problems, 'kafka dead-letter log'),
    });
    // The recovery line names the log the stall line named, whatever step runs by then.
    let stalled: DiskStepLog = 'kafka spill';
    this.#diskWatch = new StallWatch(
      this.#stallTimeoutMs,
      (waited) => {
        stalled = this.#diskStepLog;
        reports[stalled]('stall', -1, new Error(`${this.#diskStep} has waited ${Math.round(waited)} ms`), false);
      },
      () => reports[stalled]('stall', -1, null, false),
      this.#diskWork,
    );
  }

  /**
   * Opens a spill left by an earlier run (rejects when it cannot: another partition count,
   * another process writing it) and starts replaying it once the primary is ready; then
   * opens the primary, which resolves even when Kafka is unreachable.
   */
  async open(): Promise<void> {
    await this.#removeFreedLeftovers();
    if (await exists(this.deadLetterDir)) {
      await this.#openDeadLetter();
      if (this.#deadLetterRecords > 0) {
        this.#log.error(
          { dir: this.deadLetterDir, records: this.#deadLetterRecords },
          `kafka dead-letter log holds ${this.#deadLetterRecords} spilled records Kafka refused: read them from ${this.deadLetterDir}`,
        );
      }
    }
    if (await exists(this.spillDir)) {
      await this.#openSpill();
      const n = this.#remaining();
      if (n === 0) {
        await this.#exclusive(() => this.#free());
      } else {
        this.#log.warn({ dir: this.spillDir, records: n }, `kafka spill found at ${this.spillDir}: ${n} records not yet replayed`);
      }
    }
    await this.#primary.open();
  }

  /**
   * True when Kafka is ready or the spill can take writes, and neither local log is
   * stalled (stale as soon as it returns).
   */
  isReady(): boolean {
    if (this.#lifecycle === 'closed' || this.stalled()) return false;
    if (this.#primary.isReady()) return true;
    if (this.#spill !== null) return !this.#spill.failing;
    return this.#spillOpenError === null;
  }

  /**
   * See Sink.stalled: a spill or dead-letter write has waited past the stall limit. Either
   * holds the lane every append runs in, so nothing is sent or spilled until it returns.
   * After a close that gave up on such a disk, true for good.
   */
  stalled(): boolean {
    return this.#gaveUpOnDisk || this.#diskWatch.stalled || (this.#spill?.stalled ?? false) || (this.#deadLetter?.stalled ?? false);
  }

  /**
   * Per partition: acknowledged (202) records the spill or the dead-letter log lost on
   * disk, accepted with --accept-data-loss at an open of this process
   * (metricstream_log_records_lost_total). Kept after the spill is freed: its
   * lost-offsets.json goes with it.
   */
  get lostRecords(): number[] {
    return this.#lost;
  }

  /** Records in the spill that Kafka has not confirmed yet (0 when there is no spill). */
  get pendingReplay(): number {
    return this.#remaining();
  }

  /**
   * Records in the dead-letter log: spilled records (answered 202) Kafka refused while up,
   * kept there instead of dropped (each logged as an error). Counts earlier runs' too.
   */
  get deadLetterRecords(): number {
    return this.#deadLetterRecords;
  }

  /**
   * To Kafka when it is ready and nothing waits in the spill; else (or for records that
   * failed because Kafka went down) to the spill. Never rejects.
   */
  append(batch: SinkRecord[]): Promise<AppendResult> {
    if (this.#lifecycle === 'closed') return Promise.resolve(failAll(batch.length, 'kafka fallback sink closed'));
    return this.#exclusive(() => this.#appendNow(batch)).catch((e: unknown) =>
      failAll(batch.length, `kafka fallback sink: ${errorText(e)}`),
    );
  }

  /**
   * Shutdown's flush deadline passed: closes the primary now (a send in flight gives up;
   * its records that Kafka did not acknowledge are spilled, answered 202) and takes every
   * later append into the spill until close(), so records still in the rings are spilled
   * rather than refused.
   */
  async giveUpRemote(): Promise<void> {
    if (this.#lifecycle === 'open') this.#lifecycle = 'closing';
    this.#closeDeadline = Date.now();
    this.#wakeUp();
    await this.#primary.close(Date.now());
  }

  /**
   * Goes on replaying while Kafka is up, for at most replayAtCloseMs and not past
   * `deadline`; closes the primary (giving up at `deadline`, default its own flush
   * timeout) and the spill. Resolves with the records still only in the spill: durable
   * there, replayed at the next start. Records of an append the primary gave up on are in
   * that append's result (Sink.close).
   */
  close(deadline?: number): Promise<number> {
    this.#closeResult ??= this.#closeNow(deadline);
    return this.#closeResult;
  }

  async #closeNow(deadline: number | undefined): Promise<number> {
    if (this.#lifecycle === 'open') this.#lifecycle = 'closing';
    this.#closeDeadline = Math.min(Date.now() + this.#replayAtCloseMs, deadline ?? Infinity);
    this.#wakeUp();
    if (this.#replayRunning) await settlesWithin(this.#replayDone, this.#closeDeadline - Date.now());
    this.#lifecycle = 'closed';
    this.#wakeUp();
    await this.#primary.close(deadline);
    // A step that got its answer as the primary closed releases the lane at once; one still
    // waiting on a silent cluster keeps its records in the spill (its cursor never moves).
    await settlesWithin(this.#lane, 1000);
    const undelivered = this.#remaining();
    const spill = this.#spill;
    const reader = this.#reader;
    this.#spill = null;
    this.#reader = null;
    await reader?.close().catch(() => {});
    // Past the deadline a log whose disk stopped answering is given up on (PartitionedLog.close).
    const closeLog = async (log: PartitionedLog | null, what: string, dir: string): Promise<void> => {
      try {
        if (log === null || (await log.close(deadline))) return;
        this.#gaveUpOnDisk = true;
        this.#log.error({ kind: 'stall', dir }, gaveUpOnDiskLine(`the ${what}`));
      } catch (e) {
        this.#log.error({ err: errorText(e) }, `closing the ${what} failed`);
      }
    };
    await closeLog(spill, 'kafka spill', this.spillDir);
    const deadLetter = this.#deadLetter;
    this.#deadLetter = null;
    await closeLog(deadLetter, 'kafka dead-letter log', this.deadLetterDir);
    await settlesWithin(this.#removing, 5000);
    this.#diskWatch.close();
    if (undelivered > 0) {
      this.#log.warn(
        { dir: this.spillDir, undelivered },
        `kafka spill not fully replayed at shutdown: ${undelivered} records are durable in ${this.spillDir} ` +
          'and will be replayed at the next start',
      );
    }
    return undelivered;
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lane.then(fn);
    this.#lane = run.catch(() => {});
    return run;
  }

  /**
   * Refuses up front what Kafka would refuse for good (too large), in both paths: such a
   * record must not be answered 202 from the spill and dead-lettered later.
   */
  async #appendNow(batch: SinkRecord[]): Promise<AppendResult> {
    const refuses = this.#primary.refuses?.bind(this.#primary);
    if (refuses === undefined || !batch.some(refuses)) return this.#route(batch);
    const n = batch.length;
    const keep: number[] = [];
    const refused = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (refuses(batch[i])) refused[i] = 1;
      else keep.push(i);
    }
    const sub = await this.#route(keep.map((i) => batch[i]));
    const offsets = new Float64Array(n).fill(-1);
    const out: AppendResult = { offsets, refused, error: sub.error ?? 'record larger than Kafka accepts (--kafka-request-bytes)' };
    const spilled = sub.spilled !== undefined ? new Uint8Array(n) : undefined;
    const unknown = sub.unknown !== undefined ? new Uint8Array(n) : undefined;
    keep.forEach((i, k) => {
      offsets[i] = sub.offsets[k];
      if (spilled !== undefined) spilled[i] = sub.spilled![k];
      if (unknown !== undefined) unknown[i] = sub.unknown![k];
    });
    if (spilled !== undefined) out.spilled = spilled;
    if (unknown !== undefined) out.unknown = unknown;
    if (sub.unacknowledged) out.unacknowledged = true;
    return out;
  }

  /** To Kafka, or to the spill (see append). */
  async #route(batch: SinkRecord[]): Promise<AppendResult> {
    const n = batch.length;
    if (n === 0) return { offsets: new Float64Array(0) };
    if (this.#lifecycle === 'closed') return failAll(n, 'kafka fallback sink closed');
    if (this.#spill !== null && this.#primary.isReady() && this.#remaining() <= this.#maxReplayRecords) {
      await this.#catchUp();
    }
    if (this.#spill !== null || !this.#primary.isReady()) return this.#spillAll(batch);

    const result = await this.#primary.append(batch);
    // Kafka still ready after a failure: the records themselves were refused (too large,
    // ...). Spilling them would block the replay; they get -1 as without the fallback.
    // Widened: TypeScript keeps the narrowing above across the await, close() may have run.
    if (this.#primary.isReady() || (this.#lifecycle as Lifecycle) === 'closed') return result;
    const failed: number[] = [];
    for (let i = 0; i < n; i++) if (result.offsets[i] < 0) failed.push(i);
    if (failed.length === 0) return result;

    const spilled = await this.#spillRecords(failed.map((i) => batch[i]));
    const offsets = result.offsets;
    const flags = new Uint8Array(n);
    let lost = false;
    for (let k = 0; k < failed.length; k++) {
      const i = failed[k];
      if (spilled.offsets[k] >= 0) {
        offsets[i] = spilled.offsets[k];
        flags[i] = 1;
      } else {
        lost = true;
      }
    }
    const merged: AppendResult = { offsets, spilled: flags };
    if (lost) merged.error = spilled.error ?? result.error;
    // a record neither acknowledged nor spilled keeps its "may be in Kafka" mark
    if (result.unknown !== undefined) merged.unknown = result.unknown;
    if (result.unacknowledged) merged.unacknowledged = true;
    return merged;
  }

  async #spillAll(batch: SinkRecord[]): Promise<AppendResult> {
    const result = await this.#spillRecords(batch);
    const flags = new Uint8Array(batch.length);
    for (let i = 0; i < batch.length; i++) if (result.offsets[i] >= 0) flags[i] = 1;
    const out: AppendResult = { offsets: result.offsets, spilled: flags };
    if (result.error !== undefined) out.error = result.error;
    return out;
  }

  /** Appends to the spill (opening it first if needed); -1 for records it could not take. */
  async #spillRecords(records: SinkRecord[]): Promise<AppendResult> {
    if (this.#spill === null) {
      try {
        await this.#openSpill();
      } catch (e) {
        const text = errorText(e);
        if (this.#spillOpenError !== text) this.#log.error({ dir: this.spillDir, err: text }, 'kafka down and the spill cannot be opened');
        this.#spillOpenError = text;
        return failAll(records.length, `kafka down and the spill cannot be opened: ${text}`);
      }
      this.#log.warn({ dir: this.spillDir }, `kafka down: spilling to ${this.spillDir}`);
    }
    this.#spillOpenError = null;
    const result = await this.#spill!.append(records);
    this.#wakeUp();
    return result;
  }

  async #openSpill(): Promise<void> {
    // Not watched: removing a freed spill is a recursive delete that may take long.
    await this.#removing;
    await this.#onDisk('opening the spill', () => this.#openSpillNow());
  }

  async #openSpillNow(): Promise<void> {
    const spill = await PartitionedLog.open(this.spillDir, {
      partitions: this.#partitions,
      ...(this.#segmentBytes !== undefined ? { segmentBytes: this.#segmentBytes } : {}),
      ...this.#problemOptions('kafka spill'),
    });
    reportRecovery(this.#log, spill, 'kafka spill');
    for (const r of spill.recovery) for (const l of r.newlyLost) this.#lost[r.partition] += l.to - l.from;
    let reader: LogReader;
    let cursor: number[];
    try {
      reader = await LogReader.open(this.spillDir);
      const saved = await readReplayCursor(this.spillDir, this.#partitions);
      cursor = saved.next;
      if (saved.setAside !== undefined) {
        this.#log.warn(
          { dir: this.spillDir, file: REPLAY_CURSOR_FILE, reason: saved.setAside },
          `kafka spill: ${REPLAY_CURSOR_FILE} cannot be used (${saved.setAside}): replaying the whole spill, so records Kafka already has are sent again`,
        );
      }
    } catch (e) {
      await spill.close().catch(() => {});
      throw e;
    }
    for (let p = 0; p < this.#partitions; p++) {
      cursor[p] = Math.min(Math.max(cursor[p], spill.startOffset(p)), spill.nextOffset(p));
    }
    this.#spill = spill;
    this.#reader = reader;
    this.#cursor = cursor;
    this.#announced = false;
    this.#readFailureLogged = false;
    this.#startReplayLoop();
  }

  /** Reporting, stall and data-loss options shared by the spill and the dead-letter log. */
  #problemOptions(which: DiskStepLog): Pick<PartitionedLogOptions, 'onProblem' | 'acceptDataLoss' | 'stallTimeoutMs' | 'diskWork'> {
    return { onProblem: this.#reports[which], acceptDataLoss: this.#acceptDataLoss, stallTimeoutMs: this.#stallTimeoutMs, diskWork: this.#diskWork };
  }

  /**
   * Runs disk work of the sink's own (not a log's append, which its log watches) under the
   * stall watch: in the lane, a step that never returns holds every append behind it.
   */
  async #onDisk<T>(step: string, fn: () => Promise<T>, which: DiskStepLog = 'kafka spill'): Promise<T> {
    this.#diskStep = step;
    this.#diskStepLog = which;
    this.#diskWatch.begin();
    try {
      return await fn();
    } finally {
      this.#diskWatch.end();
    }
  }

  #remaining(): number {
    const spill = this.#spill;
    if (spill === null) return 0;
    let n = 0;
    for (let p = 0; p < this.#partitions; p++) n += spill.nextOffset(p) - this.#cursor[p];
    return n;
  }

  /**
   * Inside an append: replays what is left while Kafka takes it (frees the spill at the
   * end). A few batches at most (large records), so one append is not held for long.
   */
  async #catchUp(): Promise<void> {
    for (let step = 0; step < CATCH_UP_STEPS && this.#spill !== null && this.#primary.isReady() && this.#lifecycle !== 'closed'; step++) {
      if (!(await this.#replayStep())) return;
    }
  }

  #startReplayLoop(): void {
    if (this.#replayRunning || this.#lifecycle === 'closed') return;
    this.#replayRunning = true;
    this.#replayDone = this.#runReplay();
  }

  /** The background replay: one batch per turn in the lane while Kafka is ready. */
  async #runReplay(): Promise<void> {
    for (;;) {
      const stop =
        this.#spill === null ||
        this.#lifecycle === 'closed' ||
        (this.#lifecycle === 'closing' && (Date.now() >= this.#closeDeadline || !this.#primary.isReady()));
      if (stop) {
        // synchronously with the check: a spill opened after this point starts a new loop
        this.#replayRunning = false;
        return;
      }
      if (!this.#primary.isReady()) {
        await this.#pause(this.#pollMs);
        continue;
      }
      let more = false;
      try {
        more = await this.#exclusive(() => this.#replayStep());
      } catch (e) {
        this.#log.error({ err: errorText(e), dir: this.spillDir }, 'kafka spill replay step failed');
      }
      if (!more) await this.#pause(this.#pollMs);
    }
  }

  /**
   * One replay batch (runs in the lane). Returns whether another step may make progress
   * now (false when Kafka went down, the spill was freed or cannot be read).
   */
  async #replayStep(): Promise<boolean> {
    const dir = this.spillDir;
    if (this.#spill === null || this.#reader === null || this.#lifecycle === 'closed') return false;
    if (!this.#primary.isReady()) return false;
    if (this.#remaining() === 0) {
      await this.#free();
      return false;
    }
    let batch: ReplayBatch;
    try {
      batch = await this.#readBatch();
    } catch (e) {
      if (!this.#readFailureLogged) this.#log.error({ dir, err: errorText(e) }, 'kafka spill cannot be read: replay stalled');
      this.#readFailureLogged = true;
      return false;
    }
    if (batch.records.length === 0) {
      if (!this.#readFailureLogged) {
        this.#log.error({ dir, pending: this.#remaining() }, 'kafka spill holds fewer records than written: replay stalled');
      }
      this.#readFailureLogged = true;
      return false;
    }
    if (!this.#announced) {
      const n = this.#remaining();
      this.#log.info({ dir, records: n }, `kafka back: replaying ${n} spilled records`);
      this.#announced = true;
    }
    await this.#send(batch);
    // Saved even when closing: close() waits for this step, and a cursor left behind would
    // replay a batch Kafka already has at the next start.
    if (this.#spill === null) return false;
    try {
      await this.#onDisk('saving the replay cursor', () => writeReplayCursor(dir, this.#cursor));
    } catch (e) {
      // Only costs duplicates after a crash: the batch would be replayed again.
      this.#log.warn({ dir, err: errorText(e) }, 'kafka spill replay cursor not saved');
    }
    if (this.#remaining() === 0) {
      await this.#free();
      return false;
    }
    return this.#primary.isReady();
  }

  /**
   * Reads the next batch from the cursors on, partition after partition (starting with a
   * different one each time so none waits behind the others), offsets ascending.
   */
  async #readBatch(): Promise<ReplayBatch> {
    const spill = this.#spill!;
    const reader = this.#reader!;
    const records: SinkRecord[] = [];
    const offsets: number[] = [];
    const parts = this.#partitions;
    const start = this.#nextStartPartition++ % parts;
    let bytes = 0;
    for (let k = 0; k < parts; k++) {
      const p = (start + k) % parts;
      let from = this.#cursor[p];
      const end = spill.nextOffset(p);
      while (from < end && records.length < this.#maxReplayRecords && bytes < this.#maxReplayBytes) {
        const want = Math.min(256, this.#maxReplayRecords - records.length, end - from);
        const res = await reader.read(p, from, want);
        // Damaged on disk: the reader steps over them; say so (they cannot reach Kafka).
        for (const d of res.damaged) this.#log.error({ partition: p, from: d.from, to: d.to }, `spill: offsets ${d.from}-${d.to - 1} cannot be replayed: ${d.reason}`);
        if (res.records.length === 0) {
          // Only unreadable offsets from here: when nothing of this partition waits in the
          // batch, the cursor steps over them now (a lost tail would otherwise hold the
          // spill, and every later record behind it, forever); else the next batch does.
          if (res.nextOffset > from && from === this.#cursor[p]) {
            this.#cursor[p] = res.nextOffset;
            from = res.nextOffset;
            continue;
          }
          break;
        }
        for (const r of res.records) {
          const contentType = r.contentType as SinkRecord['contentType'];
          records.push({ partition: p, key: r.key, value: r.value, timestamp: r.timestamp, contentType });
          offsets.push(r.offset);
          bytes += r.key.byteLength + r.value.byteLength;
        }
        from = res.nextOffset;
      }
      if (records.length >= this.#maxReplayRecords || bytes >= this.#maxReplayBytes) break;
    }
    return { records, offsets };
  }

  /**
   * Sends a replay batch and moves each partition's cursor over the records Kafka
   * confirmed, up to its first failure (later ones are sent again: order before economy).
   */
  async #send(batch: ReplayBatch): Promise<void> {
    const { records, offsets } = batch;
    const result = await this.#primary.append(records);
    const blocked = new Uint8Array(this.#partitions);
    let failures = 0;
    for (let i = 0; i < records.length; i++) {
      const p = records[i].partition;
      if (blocked[p] === 1) continue;
      if (result.offsets[i] >= 0) this.#cursor[p] = offsets[i] + 1;
      else {
        blocked[p] = 1;
        failures++;
      }
    }
    if (failures === 0 || this.#lifecycle === 'closed') return;
    if (!this.#primary.isReady()) {
      this.#announced = false;
      this.#log.warn({ dir: this.spillDir, pending: this.#remaining(), err: result.error }, 'kafka down again while replaying the spill');
      return;
    }
    // Kafka is up but refused something: find it, one record at a time.
    for (let i = 0; i < records.length; i++) {
      const p = records[i].partition;
      if (offsets[i] !== this.#cursor[p]) continue; // confirmed already
      if ((this.#lifecycle as Lifecycle) === 'closed') return; // widened as in #route
      const one = await this.#primary.append([records[i]]);
      if (one.offsets[0] >= 0) {
        this.#cursor[p] = offsets[i] + 1;
      } else if (this.#primary.isReady()) {
        // Answered 202 once: it must not be dropped. Kept in the dead-letter log, or the
        // replay stalls here (retried later) when that log cannot take it.
        const at = await this.#toDeadLetter(records[i]);
        const where = { dir: this.spillDir, partition: p, spillOffset: offsets[i], key: Buffer.from(records[i].key).toString(), err: one.error };
        if (at < 0) {
          this.#log.error({ ...where, deadLetterDir: this.deadLetterDir }, 'kafka refused a spilled record and the dead-letter log cannot take it: replay stalled on it');
          return;
        }
        this.#cursor[p] = offsets[i] + 1;
        this.#log.error(
          { ...where, deadLetterDir: this.deadLetterDir, deadLetterOffset: at },
          'kafka refused a spilled record while up: moved it to the dead-letter log (it would block its partition forever)',
        );
      } else {
        this.#announced = false;
        return;
      }
    }
  }

  /** Opens (creating) the dead-letter log and counts what it holds. */
  async #openDeadLetter(): Promise<void> {
    const log = await this.#onDisk(
      'opening the dead-letter log',
      () => PartitionedLog.open(this.deadLetterDir, { partitions: this.#partitions, ...this.#problemOptions('kafka dead-letter log') }),
      'kafka dead-letter log',
    );
    reportRecovery(this.#log, log, 'kafka dead-letter log');
    for (const r of log.recovery) for (const l of r.newlyLost) this.#lost[r.partition] += l.to - l.from;
    // Its offsets recorded as lost hold nothing an operator could read back.
    let n = 0;
    for (let p = 0; p < this.#partitions; p++) n += log.nextOffset(p) - log.startOffset(p) - log.lostRecords[p];
    this.#deadLetter = log;
    this.#deadLetterRecords = n;
  }

  /** Appends one refused record to the dead-letter log (durable); its offset there, or -1. */
  async #toDeadLetter(record: SinkRecord): Promise<number> {
    try {
      if (this.#deadLetter === null) await this.#openDeadLetter();
      const r = await this.#deadLetter!.append([record]);
      if (r.offsets[0] >= 0) this.#deadLetterRecords++;
      return r.offsets[0];
    } catch (e) {
      this.#log.error({ dir: this.deadLetterDir, err: errorText(e) }, 'kafka dead-letter log write failed');
      return -1;
    }
  }

  /** Everything replayed (runs in the lane): close the spill, rename it away, remove it. */
  async #free(): Promise<void> {
    const spill = this.#spill;
    const reader = this.#reader;
    if (spill === null) return;
    this.#spill = null;
    this.#reader = null;
    await reader?.close().catch(() => {});
    // Renamed first so a crash mid-removal leaves no half spill that would be replayed again.
    const gone = path.join(this.#dataDir, `${FREED_PREFIX}${Date.now()}-${process.pid}`);
    try {
      await this.#onDisk('freeing the replayed spill', async () => {
        await spill.close();
        await rename(this.spillDir, gone);
        await fsyncDir(this.#dataDir);
      });
    } catch (e) {
      // Left in place with its cursor at the end: the next spill reopens it and goes on.
      this.#log.warn({ dir: this.spillDir, err: errorText(e) }, 'freeing the replayed kafka spill failed');
      return;
    }
    this.#removing = rm(gone, { recursive: true, force: true }).catch((e: unknown) =>
      this.#log.warn({ dir: gone, err: errorText(e) }, 'removing the replayed kafka spill failed'),
    );
    this.#log.info({ dir: this.spillDir }, 'spill replayed and freed');
  }

  async #removeFreedLeftovers(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dataDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const n of names) {
      if (n.startsWith(FREED_PREFIX)) await rm(path.join(this.#dataDir, n), { recursive: true, force: true });
    }
  }

  /** Sleeps `ms` or until #wakeUp (a spill write, close). */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  #wakeUp(): void {
    this.#wake?.();
  }
}
