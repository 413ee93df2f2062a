/**
 * How a PartitionedLog's problems reach an operator: what recovery found at open, and
 * while it runs an error line once per episode (a full disk fails every commit until space
 * is freed), an info line when the problem is gone, and a count by kind
 * (metricstream_log_errors_total). One reporter for every local log: the file mode's log,
 * and Kafka mode's spill and dead-letter logs.
 */
import { describeLost } from './partition-writer.ts';
import type { LogProblemKind, PartitionedLog, PartitionedLogOptions } from './partitioned-log.ts';

/** Every kind, in the order /metrics lists them. */
export const LOG_PROBLEM_KINDS: readonly LogProblemKind[] = ['write', 'commit-marks', 'index', 'retention', 'stall', 'journal'];

const PROBLEM_TEXT: Record<LogProblemKind, string> = {
  write: 'write or fdatasync of a segment failed: records answered 503 until it works again',
  'commit-marks': 'writing the commit marks failed: records are durable but readers in other processes do not see them (not ready until it works again)',
  index: 'writing a segment index failed: records are durable; readers seek slower until it works again',
  retention: 'a retention delete failed: old segments stay and the partition grows past --retention-bytes',
  journal: 'a journal checkpoint (fdatasync of the segments, then of the journal header) failed: records stay durable in the journal; once it is full, commits fail until a checkpoint works',
  stall: 'the disk stopped answering (past --disk-stall-timeout): not ready, new requests are answered 503 until it answers; records already waiting are answered then',
};

/** The pino calls the reporters make (a pino Logger, or a child of one). */
export interface ProblemLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Returns a PartitionedLog `onProblem` that logs to `logger` and counts into `counts`
 * (several logs may share one map). `which` names the log in every line ('kafka spill'),
 * or is empty for the gateway's own log.
 */
export function reportLogProblems(logger: ProblemLogger | undefined, counts: Map<LogProblemKind, number>, which = ''): NonNullable<PartitionedLogOptions['onProblem']> {
  const prefix = which === '' ? '' : `${which}: `;
  const log = which === '' ? {} : { log: which };
  return (kind, partition, err, repeated) => {
    const where = partition >= 0 ? { ...log, partition } : log;
    if (err === null) {
      logger?.info({ ...where, kind }, `${prefix}${kind === 'stall' ? 'the disk answers again: the stalled write completed' : `log ${kind} works again`}`);
      return;
    }
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    if (repeated) return;
    const code = (err as NodeJS.ErrnoException).code;
    logger?.error(
      { ...where, kind, code, err: err.message },
      `${prefix}${code ? `${code}: ` : ''}${PROBLEM_TEXT[kind]}${partition >= 0 ? ` (partition ${partition})` : ''}: ${err.message}`,
    );
  };
}

/**
 * Logs what recovery found when `log` was opened: acknowledged records lost and accepted
 * now (error: --accept-data-loss let the log open), losses accepted at an earlier start
 * (warn), sealed segments ending in a bad frame (error), bytes cut after the last good
 * record (info). `which` names the log as in reportLogProblems.
 */
export function reportRecovery(logger: ProblemLogger | undefined, log: PartitionedLog, which = ''): void {
  const prefix = which === '' ? '' : `${which}: `;
  const named = which === '' ? {} : { log: which };
  const j = log.journalReplay;
  if (j.entries > 0) {
    logger?.info(
      { ...named, journalEntries: j.entries, journalRecords: j.records, journalBytes: j.bytes },
      `${prefix}journal: wrote ${j.records} records (${j.bytes} bytes) of ${j.entries} commits back into their segments (acknowledged through the journal, not yet synced in the segments)`,
    );
  }
  for (const r of log.recovery) {
    const where = { ...named, partition: r.partition };
    if (r.newlyLost.length > 0) {
      logger?.error(
        { ...where, lost: r.newlyLost, nextOffset: r.nextOffset },
        `${prefix}partition ${r.partition}: acknowledged records lost: ${describeLost(r.newlyLost)}; accepted with ` +
          `--accept-data-loss (recorded in lost-offsets.json), new records continue at offset ${r.nextOffset}`,
      );
    }
    const known = r.lost.filter((l) => !r.newlyLost.includes(l));
    if (known.length > 0) {
      logger?.warn({ ...where, lost: known }, `${prefix}partition ${r.partition}: damage accepted at an earlier start is still there: ${describeLost(known)}`);
    }
    if (r.damagedSealedSegments.length > 0) {
      logger?.error(
        { ...where, segments: r.damagedSealedSegments },
        `${prefix}partition ${r.partition}: sealed segment(s) ${r.damagedSealedSegments.join(', ')} end in a bad frame; readers report the damaged offsets and read on after them`,
      );
    }
    if (r.truncatedBytes > 0) {
      logger?.info(
        { ...where, truncatedBytes: r.truncatedBytes, nextOffset: r.nextOffset },
        `${prefix}partition ${r.partition}: cut ${r.truncatedBytes} bytes after the last good record (zeros written ahead, or an unacknowledged write torn by a crash)`,
      );
    }
  }
}
