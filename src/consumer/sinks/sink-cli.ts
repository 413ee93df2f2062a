/**
 * The consume CLI's sink mode: `--sink remote-write|influx --sink-url URL` (with --group)
 * delivers the group's partitions to a store, serves the consumer's Prometheus metrics on
 * --admin-port and logs lifecycle events with pino (JSON lines on stdout).
 */
import pino from 'pino';
import { parseDuration, parseInteger, parseSize } from '../../cli/args.ts';
import { onStopSignals } from '../../cli/signals.ts';
import { startAdminServer, type AdminServer } from '../../main/admin-server.ts';
import { createConsumer } from '../create-consumer.ts';
import type { ConsumerEvent, ConsumerOptions, RunOptions, SinkOptions } from '../types.ts';
import { DEFAULT_CONCURRENCY, DEFAULT_MAX_BYTES_PER_REQUEST, DEFAULT_MAX_SAMPLES_PER_REQUEST } from './delivery.ts';
import { SinkConsumer } from './sink-consumer.ts';
import { SinkMetrics } from './sink-metrics.ts';

/** Records per batch read from a partition in sink mode (one batch = one or more requests, one commit). */
export const DEFAULT_SINK_BATCH_RECORDS = 1000;

/** parseArgs options of sink mode. */
export const SINK_FLAGS = {
  sink: { type: 'string', default: 'stdout' },
  'sink-url': { type: 'string' },
  'sink-header': { type: 'string', multiple: true },
  'sink-max-samples': { type: 'string' },
  'sink-max-bytes': { type: 'string' },
  'sink-concurrency': { type: 'string' },
  'sink-timeout': { type: 'string' },
  'batch-records': { type: 'string' },
  'dead-letter-dir': { type: 'string' },
  'dead-letter-topic': { type: 'string' },
  'admin-port': { type: 'string', default: 'off' },
  'admin-host': { type: 'string', default: '127.0.0.1' },
  'log-level': { type: 'string', default: 'info' },
} as const;

export const SINK_USAGE = `
Delivering to a store (needs --group; offsets committed after the store's 2xx):
  --sink stdout|remote-write|influx   where batches go (default stdout: the JSON lines above)
  --sink-url <url>          remote-write: the receiver (VictoriaMetrics http://H:8428/api/v1/write,
                            Prometheus http://H:9090/api/v1/write); influx: http://H:8086/write?db=D
                            or http://H:8086/api/v2/write?org=O&bucket=B
  --sink-header 'Name: v'   extra request header, repeatable (Authorization, X-Scope-OrgID)
  --sink-max-samples <n>    samples per request at most (default ${DEFAULT_MAX_SAMPLES_PER_REQUEST})
  --sink-max-bytes <size>   uncompressed request size to aim below (default 4mb)
  --sink-concurrency <n>    requests in flight at once; a series always takes the same lane (default ${DEFAULT_CONCURRENCY})
  --sink-timeout <t>        one request's deadline, then it is retried (default 30s)
  --batch-records <n>       records per batch read from a partition (default ${DEFAULT_SINK_BATCH_RECORDS})
  --dead-letter-dir <dir>   records the store refused for good (4xx), as NDJSON
                            (default <data-dir>/dead-letter/<group>/; Kafka mode: a topic)
  --dead-letter-topic <t>   Kafka mode: the dead-letter topic (default <topic>.dead-letter)
  --admin-port <port|off>   serve the consumer's Prometheus metrics on GET /metrics (default off)
  --admin-host <host>       (default 127.0.0.1)
  --log-level <level>       pino log level (default info)
`;

interface SinkArgs {
  sink?: string;
  'sink-url'?: string;
  'sink-header'?: string[];
  'sink-max-samples'?: string;
  'sink-max-bytes'?: string;
  'sink-concurrency'?: string;
  'sink-timeout'?: string;
  'batch-records'?: string;
  'dead-letter-dir'?: string;
  'dead-letter-topic'?: string;
  'admin-port'?: string;
  'admin-host'?: string;
  'log-level'?: string;
}

interface CliHooks {
  usageError(message: string): never;
  describeEvent(group: string, e: ConsumerEvent): string;
}

function sinkOptions(args: SinkArgs, cli: CliHooks): SinkOptions {
  const type = args.sink;
  if (type !== 'remote-write' && type !== 'influx') return cli.usageError(`--sink must be stdout, remote-write or influx, got "${type}"`);
  const url = args['sink-url'];
  if (url === undefined) return cli.usageError(`--sink ${type} needs --sink-url`);
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    return cli.usageError(`--sink-url must be an http(s) URL, got "${url}"`);
  }
  const headers: Record<string, string> = {};
  for (const h of args['sink-header'] ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) cli.usageError(`--sink-header must be "Name: value", got "${h}"`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  try {
    return {
      type,
      url,
      headers,
      maxSamplesPerRequest: args['sink-max-samples'] === undefined ? undefined : parseInteger('sink-max-samples', args['sink-max-samples'], 1, 10_000_000),
      maxBytesPerRequest: args['sink-max-bytes'] === undefined ? DEFAULT_MAX_BYTES_PER_REQUEST : parseSize('sink-max-bytes', args['sink-max-bytes']),
      concurrency: args['sink-concurrency'] === undefined ? undefined : parseInteger('sink-concurrency', args['sink-concurrency'], 1, 64),
      requestTimeoutMs: args['sink-timeout'] === undefined ? undefined : parseDuration('sink-timeout', args['sink-timeout']),
      deadLetterDir: args['dead-letter-dir'],
      deadLetterTopic: args['dead-letter-topic'],
    };
  } catch (err) {
    return cli.usageError((err as Error).message);
  }
}

/**
 * Runs one group member that delivers to the store until SIGINT/SIGTERM (or per `run`):
 * first signal finishes or gives up the batch in flight and leaves the group, second exits.
 */
export async function runSink(args: SinkArgs, base: ConsumerOptions, run: RunOptions, cli: CliHooks): Promise<void> {
  const sink = sinkOptions(args, cli);
  const level = args['log-level'] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) cli.usageError(`--log-level: unknown level "${level}"`);
  let adminPort: number | null = null;
  if (args['admin-port'] !== undefined && args['admin-port'] !== 'off') {
    try {
      adminPort = parseInteger('admin-port', args['admin-port'], 0, 65535);
    } catch (err) {
      cli.usageError((err as Error).message);
    }
  }
  let batchRecords = DEFAULT_SINK_BATCH_RECORDS;
  if (args['batch-records'] !== undefined) {
    try {
      batchRecords = parseInteger('batch-records', args['batch-records'], 1, 1_000_000);
    } catch (err) {
      cli.usageError((err as Error).message);
    }
  }
  const logger = pino({ level, base: { pid: process.pid, group: base.group, sink: sink.type } });
  const metrics = new SinkMetrics(sink.type, { processMetrics: true });
  const opts: ConsumerOptions = {
    ...base,
    maxBatchRecords: batchRecords,
    sink: { ...sink, metrics, logger },
    onEvent: (e) => {
      const msg = cli.describeEvent(base.group, e);
      if (e.type === 'assigned') logger.info({ generation: e.generation, memberId: e.memberId, partitions: e.partitions }, msg);
      else if (e.type === 'commit-refused') logger.warn({ partition: e.partition, offset: e.offset }, msg);
      else logger.warn({}, msg);
    },
  };
  const consumer = createConsumer(opts) as SinkConsumer;
  let admin: AdminServer | null = null;
  if (adminPort !== null) {
    admin = await startAdminServer(metrics.registry, { host: args['admin-host'] ?? '127.0.0.1', port: adminPort, logger });
    logger.info({ port: admin.port, host: args['admin-host'] }, `consumer metrics on http://${args['admin-host']}:${admin.port}/metrics`);
  }
  const target = base.mode === 'log' ? `log ${base.dataDir}` : `topic ${base.topic} on ${String(base.brokers)}`;
  logger.info({ url: sink.url, mode: base.mode }, `consumer started: group ${base.group} reads ${target}, delivers to ${sink.type} ${sink.url}`);
  // First signal: finish (or, after the grace period, give up) the batch in flight, leave the group. Second: exit now.
  onStopSignals(
    (signal) => {
      logger.info({ signal }, 'stopping: finishing or giving up the batch in flight, leaving the group');
      void consumer.stop();
    },
    (signal) => process.exit(signal === 'SIGINT' ? 130 : 143),
  );
  try {
    await consumer.run(undefined, run);
    logger.info({}, 'consumer stopped: left the group');
  } catch (err) {
    logger.error({ error: (err as Error).message }, 'consumer failed');
    throw err;
  } finally {
    await admin?.close();
  }
}
