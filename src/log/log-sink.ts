/**
 * The embedded default sink: the owner thread's records go to the local PartitionedLog.
 */
import type { Logger } from 'pino';
import type { AppendResult, Sink, SinkRecord } from '../sink/sink.ts';
import { gaveUpOnDiskLine, PartitionedLog } from './partitioned-log.ts';
import type { LogProblemKind, PartitionedLogOptions } from './partitioned-log.ts';
import { reportLogProblems, reportRecovery } from './log-problems.ts';

export interface LogSinkOptions extends Omit<PartitionedLogOptions, 'onProblem'> {
  /** Directory of the log (meta.json, partition-N/ ...). */
  dataDir: string;
  /** Where recovery findings and problems are reported (error level for every loss or failure). */
  logger?: Logger;
}

/**
 * Sink over a PartitionedLog. append() is the group commit: one write per touched
 * partition and one fdatasync per call (PartitionedLog.append); the owner must await each
 * append before the next (a concurrent call rejects with ConcurrentAppendError).
 */
export class LogSink implements Sink {
  readonly name = 'log';
  readonly #opts: LogSinkOptions;
  #log: PartitionedLog | null = null;
  #closed = false;
  /** Problems reported by the log, by kind (metricstream_log_errors_total). */
  readonly problems = new Map<LogProblemKind, number>();

  constructor(opts: LogSinkOptions) {
    this.#opts = opts;
  }

  /**
   * Opens and recovers the log. Rejects when the data dir cannot be used at all: another
   * partition count in meta.json, another writer holding it, or an I/O error. Unlike a
   * broker that is merely down, none of these fix themselves by waiting.
   */
  async open(): Promise<void> {
    const { dataDir, logger, ...opts } = this.#opts;
    this.#log = await PartitionedLog.open(dataDir, {
      ...opts,
      onProblem: reportLogProblems(logger, this.problems),
    });
    reportRecovery(logger, this.#log);
  }

  /** Per partition: acknowledged records recorded as lost in this data dir (metricstream_log_records_lost_total). */
  get lostRecords(): number[] {
    return this.#log?.lostRecords ?? [];
  }

  /**
   * True when open, the last commit of every partition succeeded and the commit marks
   * (what readers in other processes go by) are being written. After a failed write
   * (ENOSPC, EIO) it stays false until a later append to that partition succeeds, so the
   * owner should keep appending (answering 503 on failure) for readiness to come back.
   */
  isReady(): boolean {
    return this.#log !== null && !this.#closed && !this.#log.failing && !this.#log.marksFailing && !this.#log.stalled;
  }

  /** See Sink.stalled: the log's append in flight waited past --disk-stall-timeout. */
  stalled(): boolean {
    return this.#log?.stalled ?? false;
  }

  /** See PartitionedLog.append. Before open() or after close(), every record gets -1. */
  append(batch: SinkRecord[]): Promise<AppendResult> {
    if (this.#log === null || this.#closed) {
      return Promise.resolve({
        offsets: new Float64Array(batch.length).fill(-1),
        error: this.#closed ? 'log sink is closed' : 'log sink is not open',
      });
    }
    return this.#log.append(batch);
  }

  /** The underlying log (null before open), e.g. for recovery figures at start-up. */
  get log(): PartitionedLog | null {
    return this.#log;
  }

  /**
   * Closes the log and releases the data dir (PartitionedLog.close: past `deadline`, a
   * disk that stopped answering is given up on, the data dir left as a crash leaves it,
   * and `stalled()` stays true).
   */
  async close(deadline?: number): Promise<number> {
    this.#closed = true;
    if (this.#log !== null && !(await this.#log.close(deadline))) {
      this.#opts.logger?.error({ kind: 'stall', dir: this.#opts.dataDir }, gaveUpOnDiskLine('the log'));
    }
    return 0;
  }
}
