/**
 * How a PartitionedLog's problems reach an operator: an error line once per episode (a
 * full disk fails every commit until space is freed), an info line when the problem is
 * gone, and a count by kind (metricstream_log_errors_total). One reporter for every local
 * log: the file mode's log, and Kafka mode's spill and dead-letter logs.
 */
import type { LogProblemKind, PartitionedLogOptions } from './partitioned-log.ts';

/** Every kind, in the order /metrics lists them. */
export const LOG_PROBLEM_KINDS: readonly LogProblemKind[] = ['write', 'commit-marks', 'index', 'retention', 'stall'];

const PROBLEM_TEXT: Record<LogProblemKind, string> = {
  write: 'write or fdatasync of a segment failed: records answered 503 until it works again',
  'commit-marks': 'writing the commit marks failed: records are durable but readers in other processes do not see them (not ready until it works again)',
  index: 'writing a segment index failed: records are durable; readers seek slower until it works again',
  retention: 'a retention delete failed: old segments stay and the partition grows past --retention-bytes',
  stall: 'the disk stopped answering (past --disk-stall-timeout): not ready, new requests are answered 503 until it answers; records already waiting are answered then',
};

/** The two pino calls the reporter makes (a pino Logger, or a child of one). */
export interface ProblemLogger {
  error(obj: object, msg: string): void;
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
