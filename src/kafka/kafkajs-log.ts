/**
 * Routes kafkajs's log lines into our logger (pino or anything with the same four
 * methods). kafkajs logs every failed attempt (each refused connect, each timed-out
 * request) at ERROR, with a stack, even when a retry then succeeds; during an outage that
 * is several lines a second. The sink reports the outcomes itself (AppendResult.error,
 * one line per readiness change), so kafkajs ERROR lines become debug here and WARN
 * stays warn. Stacks are dropped.
 */
import kafkajs, { type logCreator } from 'kafkajs';

const { logLevel } = kafkajs;

/** The logging surface the Kafka sink needs; a pino Logger satisfies it. */
export interface SinkLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything. */
export const silentLogger: SinkLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Writes warn and error lines as JSON to stderr: the default when no logger is given. */
export const stderrLogger: SinkLogger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', ...obj, msg })}\n`);
  },
  error(obj, msg) {
    process.stderr.write(`${JSON.stringify({ level: 'error', ...obj, msg })}\n`);
  },
};

/**
 * A kafkajs logCreator that forwards entries to `logger`, dropping lines whose message
 * matches one of `ignore` (warnings about choices made on purpose).
 */
export function kafkajsLogCreator(logger: SinkLogger, ignore: RegExp[] = []): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _t, logger: _l, stack: _s, ...extra } = log as Record<string, unknown>;
      const msg = String(message);
      if (ignore.some((re) => re.test(msg))) return;
      const obj = { kafkajs: namespace, ...extra };
      if (level === logLevel.WARN) logger.warn(obj, msg);
      else if (level === logLevel.INFO) logger.info(obj, msg);
      else logger.debug(obj, msg);
    };
}
