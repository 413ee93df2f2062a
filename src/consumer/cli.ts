/**
 * `npm run consume -- --data-dir ./data --from-beginning --exit-at-end [--max-records N]`
 * `npm run consume -- --group storage-writer [--data-dir ./data] [--show-lag] ...`
 * `npm run consume -- --mode kafka --brokers host:port --topic metrics --group g ...`
 *
 * Prints records as JSON lines, one per record:
 * {"partition":0,"offset":12,"key":"client-1","timestamp":1700000000000,"value":{...}}
 * A value that cannot be decoded is printed as "valueBase64" with a "valueError".
 * Without --group it is the plain reader (no group, no commits); with --group it is a
 * member of that consumer group (partitions shared with the other members, offsets
 * committed after each batch is printed).
 * With --sink remote-write|influx (needs --group) it delivers to a store instead of printing
 * (sink-cli.ts), committing after the store's 2xx.
 * Exit: 0 done (or interrupted), 1 the log or topic could not be read, 2 bad arguments.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { parseDuration } from '../cli/args.ts';
import { KAFKA_SECURITY_OPTIONS, KAFKA_SECURITY_USAGE, kafkaSecurityOptions, parseKafkaSecurity } from '../kafka/kafka-security.ts';
import { onStopSignals } from '../cli/signals.ts';
import { explainOrigin, layerArgv, layersHelp } from '../cli/config-layers.ts';
import { createConsumer, groupLag } from './create-consumer.ts';
import { lagText, recordLine } from './output.ts';
import type { OutputFormat } from './output.ts';
import { readPlain } from './plain-reader.ts';
import type { ConsumedRecord } from './plain-reader.ts';
import { runSink, SINK_FLAGS, SINK_USAGE } from './sinks/sink-cli.ts';
import type { ConsumerEvent, ConsumerOptions } from './types.ts';

/** The consumer's environment variables: METRICSTREAM_CONSUME_DATA_DIR is --data-dir. */
const ENV_PREFIX = 'METRICSTREAM_CONSUME_';

const USAGE = `Usage: npm run consume -- [options]      (installed: metricstream-consume [options])

Prints the records of a metricstream partition log (or Kafka topic) as JSON lines
{"partition","offset","key","timestamp","value"}. Per-partition order holds.

Options:
  --data-dir <dir>          the log's data dir (default ./data)
  --from-beginning          start at the earliest retained record (default: only new records);
                            with --group: only where the group has no committed offset
  --exit-at-end             exit once everything written so far is printed (default: follow);
                            exit code 3 if records were damaged or missing on disk (each
                            range is reported on stderr; the good records around it are printed)
  --max-records <n>         exit after n records
  --format ndjson|pretty    output format (default ndjson)
  -h, --help                show this help

Consumer groups:
  --group <name>            join this consumer group: its members share the partitions and
                            resume from the group's committed offsets (committed after
                            each batch is printed: at-least-once)
  --session-timeout <t>     a member silent this long is gone and its partitions move
                            (e.g. 6s, 1500ms; default 6s)
  --show-lag                print the group's lag per partition (end - committed) and exit
  --member-id <id>          this member's id (default host-pid-random)

Kafka:
  --mode log|kafka          read the local log (default) or a Kafka topic
  --brokers <host:port,..>  Kafka bootstrap servers
  --topic <name>            Kafka topic (default metrics)
${KAFKA_SECURITY_USAGE}
                            Without --group, a Kafka topic is read plainly: through a
                            one-off group of this process alone (metricstream-consume-<id>),
                            whose offsets nobody resumes.

  --config <file>           read flags from a JSON file ({"data-dir": "/var/lib/metricstream"})
${SINK_USAGE}
${layersHelp(ENV_PREFIX, 'data-dir')}
`;

function usageError(message: string): never {
  process.stderr.write(`consume: ${explainOrigin(message, origin)}\nTry --help.\n`);
  process.exit(2);
}

const OPTIONS = {
  'data-dir': { type: 'string', default: './data' },
  'from-beginning': { type: 'boolean', default: false },
  'exit-at-end': { type: 'boolean', default: false },
  'max-records': { type: 'string' },
  format: { type: 'string', default: 'ndjson' },
  group: { type: 'string' },
  'session-timeout': { type: 'string' },
  'show-lag': { type: 'boolean', default: false },
  'member-id': { type: 'string' },
  mode: { type: 'string', default: 'log' },
  brokers: { type: 'string' },
  topic: { type: 'string', default: 'metrics' },
  ...KAFKA_SECURITY_OPTIONS,
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
  ...SINK_FLAGS,
} as const;

/** Where each flag not on the command line came from (environment or config file), for messages. */
let origin = new Map<string, string>();

function parse() {
  try {
    const layered = layerArgv(process.argv.slice(2), OPTIONS, { envPrefix: ENV_PREFIX, env: process.env });
    origin = layered.origin;
    return parseArgs({ args: layered.argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    return usageError((err as Error).message);
  }
}

type Args = ReturnType<typeof parse>;

/** --session-timeout: a duration (6s, 1500ms) from 100 ms to 1 h. */
function parseSessionTimeout(text: string): number {
  let ms = 0;
  try {
    ms = parseDuration('session-timeout', text);
  } catch (err) {
    usageError((err as Error).message);
  }
  if (ms < 100 || ms > 3_600_000) usageError(`--session-timeout must be from 100ms to 1h (e.g. 6s, 1500ms), got "${text}"`);
  return ms;
}

/**
 * Writes to stdout; resolves once the OS took the bytes (rejects if it would not, e.g. the
 * reader of the pipe is gone), and waits when the pipe is full, so that a group member
 * commits only what it really printed and a slow `| less` slows it down without loss.
 */
function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const full = !process.stdout.write(text, (err) => {
      if (err) reject(err);
      else if (!full) resolve();
    });
    if (full) process.stdout.once('drain', resolve);
  });
}

function batchText(batch: ConsumedRecord[], format: OutputFormat): string {
  let text = '';
  for (const r of batch) {
    text += recordLine(r, format) + '\n';
    if (r.valueError !== undefined) {
      process.stderr.write(`consume: partition ${r.partition} offset ${r.offset}: ${r.valueError}\n`);
    }
  }
  return text;
}

/** One consumer event as a line of text (stderr, or a sink's log message). */
function describeEvent(group: string, e: ConsumerEvent): string {
  switch (e.type) {
    case 'assigned':
      return `group ${group} generation ${e.generation}: member ${e.memberId} reads partitions [${e.partitions.join(',')}]`;
    case 'retention-skip':
      return (
        `partition ${e.partition}: committed offset ${e.committedOffset} was deleted by retention; ` +
        `continuing at the earliest offset ${e.earliestOffset} (${e.earliestOffset - e.committedOffset} records skipped)`
      );
    case 'commit-refused':
      return `partition ${e.partition}: commit of offset ${e.offset} refused: ${e.reason}`;
    case 'warning':
      return e.message;
  }
}

async function runPlain(args: Args, maxRecords: number | undefined, format: OutputFormat, signal: AbortSignal): Promise<void> {
  let damagedRecords = 0;
  const records = readPlain({
    dataDir: args['data-dir'],
    fromBeginning: args['from-beginning'],
    follow: !args['exit-at-end'],
    maxRecords,
    signal,
    onSkipped: (p, from, count) =>
      process.stderr.write(
        `consume: partition ${p}: offsets ${from}..${from + count - 1} were deleted by retention; ` +
          `continuing at ${from + count}\n`,
      ),
    onDamaged: (p, d) => {
      damagedRecords += d.to - d.from;
      process.stderr.write(`consume: partition ${p}: offsets ${d.from}..${d.to - 1} (${d.to - d.from} records) cannot be read: ${d.reason}\n`);
    },
  });
  for await (const batch of records) await writeOut(batchText(batch, format));
  // Everything readable was delivered; the exit code still says that some was not.
  if (damagedRecords > 0) {
    process.stderr.write(`consume: ${damagedRecords} record(s) could not be read (damaged or missing on disk)\n`);
    process.exitCode = 3;
  }
}

function consumerOptions(args: Args, group: string): ConsumerOptions {
  const common = {
    group,
    fromBeginning: args['from-beginning'],
    sessionTimeoutMs: args['session-timeout'] === undefined ? undefined : parseSessionTimeout(args['session-timeout']),
    onEvent: (e: ConsumerEvent) => process.stderr.write(`consume: ${describeEvent(group, e)}\n`),
  };
  if (args.mode === 'kafka') {
    if (args.brokers === undefined) usageError('--mode kafka needs --brokers host:port[,host:port...]');
    let security;
    try {
      security = kafkaSecurityOptions(parseKafkaSecurity(args));
    } catch (err) {
      usageError((err as Error).message);
    }
    return { mode: 'kafka', brokers: args.brokers, topic: args.topic, security, ...common };
  }
  return { mode: 'log', dataDir: args['data-dir'], memberId: args['member-id'], ...common };
}

/** The group of a plain Kafka read: unique to this process, never joined again. */
function oneOffGroup(): string {
  return `metricstream-consume-${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  let maxRecords: number | undefined;
  if (args['max-records'] !== undefined) {
    maxRecords = Number(args['max-records']);
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
      usageError(`--max-records must be a positive integer, got "${args['max-records']}"`);
    }
  }
  if (args.format !== 'ndjson' && args.format !== 'pretty') usageError(`--format must be ndjson or pretty, got "${args.format}"`);
  const format: OutputFormat = args.format;
  if (args.mode !== 'log' && args.mode !== 'kafka') usageError(`--mode must be log or kafka, got "${args.mode}"`);
  // Kafka has no reader outside a group: without --group, a one-off group of this process.
  const group = args.group ?? (args.mode === 'kafka' ? oneOffGroup() : undefined);
  if (args.group === undefined) {
    if (args.sink !== 'stdout') usageError(`--sink ${args.sink} needs --group (offsets are committed after the store's 2xx)`);
    if (args['show-lag']) usageError('--show-lag needs --group');
    for (const f of ['session-timeout', 'member-id'] as const) {
      if (args[f] !== undefined) usageError(`--${f} needs --group`);
    }
  }

  if (group === undefined) {
    // `consume | head` closes the pipe early: that is a normal end, not an error.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    await runPlain(args, maxRecords, format, stop.signal);
    return;
  }

  const opts = consumerOptions(args, group);
  if (args['show-lag']) {
    const lag = await groupLag(
      opts.mode === 'log'
        ? { mode: 'log', dataDir: opts.dataDir, group }
        : { mode: 'kafka', brokers: opts.brokers, topic: opts.topic, group, security: opts.security },
    );
    await writeOut(lagText(group, lag, format));
    return;
  }
  if (args.sink !== 'stdout') {
    await runSink(args, opts, { exitAtEnd: args['exit-at-end'], maxRecords }, { usageError, describeEvent });
    return;
  }
  const consumer = createConsumer(opts);
  // `consume | head` closes the pipe early: the batch that failed to print is not
  // committed (the handler rejects), the member leaves the group cleanly, exit 0.
  let stdoutGone = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    stdoutGone = true;
  });
  // First signal: finish the batch in flight, commit it, leave the group. Second: exit now.
  onStopSignals(
    () => void consumer.stop(),
    (signal) => process.exit(signal === 'SIGINT' ? 130 : 143),
  );
  try {
    await consumer.run(async ({ records }) => writeOut(batchText(records, format)), {
      exitAtEnd: args['exit-at-end'],
      maxRecords,
    });
  } catch (err) {
    if (stdoutGone || (err as NodeJS.ErrnoException).code === 'EPIPE') return;
    throw err;
  }
}

main().catch((err: Error) => {
  process.stderr.write(`consume: ${err.message}\n`);
  process.exitCode = 1;
});
