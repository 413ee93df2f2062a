/**
 * The gateway's command line: every flag, its default, and the checks that turn a bad
 * value into a clear message (exit 2) instead of a gateway that misbehaves later.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { explainOrigin, layerArgv, layersHelp } from '../cli/config-layers.ts';
import { oneOf, parseDuration, parseInteger, parseSize, UsageError } from '../cli/args.ts';
import { KAFKA_SECURITY_OPTIONS, KAFKA_SECURITY_USAGE, parseKafkaSecurity, type KafkaSecurityConfig } from '../kafka/kafka-security.ts';
import { MIN_JOURNAL_BYTES } from '../log/commit-journal.ts';
import { DEFAULT_STALL_TIMEOUT_MS, MAX_SEGMENT_BYTES } from '../log/partitioned-log.ts';
import { FRAME_OVERHEAD, MAX_FRAME_BYTES } from '../log/record-frame.ts';
import { MAX_CLIENT_ID } from '../workers/client-id.ts';
import { DEFAULT_HEAP_RELEASE_AFTER_MS } from '../workers/settle-heap.ts';
import { connectionsWithin, DEFAULT_MAX_CONNECTIONS, descriptorLimit } from './descriptor-budget.ts';

/** The largest record value the log can frame with the longest client id. */
export const MAX_RECORD_VALUE = MAX_FRAME_BYTES - FRAME_OVERHEAD - MAX_CLIENT_ID;


export interface GatewayConfig {
  workers: number;
  host: string;
  port: number;
  mode: 'file' | 'kafka';
  dataDir: string;
  partitions: number;
  /** File mode: 0 or 1. Kafka mode: 0, 1 or -1 (all). */
  acks: 0 | 1 | -1;
  maxBody: number;
  /** Largest body after Content-Encoding / a protocol's own decompression. */
  maxDecodedBody: number;
  /** Per worker: bytes held for bodies in flight and records awaiting the owner. */
  maxInflightBytes: number;
  /** Per worker: open connections kept; over it 503 and close. */
  maxConnections: number;
  /** The descriptor limit (`ulimit -n`) that lowered the default maxConnections, when one did. */
  maxConnectionsLoweredBy?: number;
  /** The process's descriptor limit as read when the config was parsed (undefined: none known). */
  descriptorLimit?: number;
  bodyTimeoutMs: number;
  /** File mode: a commit waiting longer than this for the disk is reported, and new writes get 503. */
  diskStallTimeoutMs: number;
  segmentBytes: number | undefined;
  retentionBytes: number | undefined;
  /** File mode: size of the commit journal (0: none); undefined for the log's default. */
  journalBytes: number | undefined;
  /** File mode: start even if recovery finds acknowledged records lost (recorded, reported). */
  acceptDataLoss: boolean;
  ringBytes: number;
  /** Per worker: V8 old-generation limit; a worker past it dies and is restarted. */
  workerHeapBytes: number;
  /** Per worker: quiet time after which a worker that served gives its heap back. */
  heapReleaseAfterMs: number;
  valueFormat: 'msgpack' | 'json' | 'raw';
  adminPort: number;
  adminHost: string;
  logLevel: string;
  brokers: string[];
  topic: string;
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  idempotent: boolean;
  flushTimeoutMs: number;
  fallback: 'none' | 'file';
  kafkaTimeoutMs: number;
  kafkaRetries: number;
  maxBatchBytes: number;
  kafkaRequestBytes: number;
  /** client-id: the header names the writer, unchecked (the seed); tokens: --auth-file. */
  auth: 'client-id' | 'tokens';
  authFile: string | undefined;
  /** PEM files: HTTPS on the data port with both; mTLS with the client CA. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsClientCa: string | undefined;
  /** Kafka connection security, passed to every kafkajs client the gateway makes. */
  kafkaSecurity: KafkaSecurityConfig;
}

/** The environment variables' prefix: METRICSTREAM_WORKERS is --workers. */
export const ENV_PREFIX = 'METRICSTREAM_';

export const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string' },
  workers: { type: 'string', short: 'w' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  mode: { type: 'string' },
  'data-dir': { type: 'string' },
  partitions: { type: 'string' },
  acks: { type: 'string' },
  'max-body': { type: 'string' },
  'max-decoded-body': { type: 'string' },
  'max-inflight-bytes': { type: 'string' },
  'max-connections': { type: 'string' },
  'admin-host': { type: 'string' },
  'body-timeout': { type: 'string' },
  'disk-stall-timeout': { type: 'string' },
  'segment-bytes': { type: 'string' },
  'retention-bytes': { type: 'string' },
  'journal-bytes': { type: 'string' },
  'accept-data-loss': { type: 'boolean' },
  'ring-bytes': { type: 'string' },
  'worker-heap': { type: 'string' },
  'heap-release-after': { type: 'string' },
  'value-format': { type: 'string' },
  'admin-port': { type: 'string' },
  'log-level': { type: 'string' },
  brokers: { type: 'string' },
  topic: { type: 'string' },
  compression: { type: 'string' },
  idempotent: { type: 'boolean' },
  'flush-timeout': { type: 'string' },
  fallback: { type: 'string' },
  'kafka-timeout': { type: 'string' },
  'kafka-retries': { type: 'string' },
  'max-batch-bytes': { type: 'string' },
  'kafka-request-bytes': { type: 'string' },
  auth: { type: 'string' },
  'auth-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
  ...KAFKA_SECURITY_OPTIONS,
} as const;

export const USAGE = `Usage: npm start -- [options]      (installed: metricstream [options])

metricstream gateway: HTTP workers -> lock-free rings -> one owner thread -> durable sink.

Options:
  -w, --workers N          HTTP worker threads, all on one port (default: CPU count, ${os.availableParallelism()})
  -p, --port N             HTTP port (default 8090; 0 picks a free one)
      --host ADDR          listen address (default 0.0.0.0)
      --mode file|kafka    sink: the local partition log (default) or Kafka
      --data-dir DIR       partition log directory (default ./data)
      --partitions N       partitions, fixed per data dir / topic (default 4)
      --acks N             file mode: 1 = answer 200 once fsync'd (default), 0 = 202 once queued
                           kafka mode: all|-1 (default), 1, 0
      --max-body SIZE      largest request body on the wire (default 1mb, at most 16mb: the
                           largest record the log frames); larger gets 413
      --max-decoded-body SIZE  largest body after Content-Encoding (gzip, deflate, zstd,
                           snappy) is decoded (default: --max-body); larger gets 413 at once
      --max-inflight-bytes SIZE  per worker: bytes held for bodies being received (wire and
                           decoded) and records awaiting the owner (default 16mb, or 4 x
                           (max-body + max-decoded-body) if larger); past it 503 + Retry-After
      --max-connections N  per worker: open connections (default 1024, or what the descriptor
                           limit, ulimit -n, leaves each worker); one more replaces the oldest
                           that sent no request, else it gets 503 and is closed
      --body-timeout DUR   headers or body not received within this get 408 and the
                           connection is closed (default 10s)
      --disk-stall-timeout DUR  a commit whose write or fdatasync has not returned after this
                           (a disk that stopped answering) is logged, /readyz turns 503 and
                           new requests get 503 until it returns (default 5s)
      --flush-timeout DUR  bounds SIGTERM's drain (default 10s): then records still waiting
                           for the sink are answered 504 (may be stored) or 503, and a log
                           whose disk stopped answering is given up on (exit 1)
      --segment-bytes SIZE roll log segments at this size (default 64mb)
      --retention-bytes SIZE  keep at most this much log per partition (default: unlimited)
      --journal-bytes SIZE  the commit journal, which makes a commit that touches several
                           partitions durable with one fdatasync, wraps at this size, or
                           sooner where the disk has no room to spare for it
                           (default 16mb, at least 64kb; 0: no journal, one fdatasync per
                           touched partition)
      --accept-data-loss   start even if recovery finds acknowledged records missing or
                           damaged (default: refuse to start); the loss is logged, recorded
                           in <data-dir>/lost-offsets.json and counted on /metrics. Kafka
                           mode: the same for the spill and dead-letter logs (--fallback file)
      --ring-bytes SIZE    ring size per worker, power of two (default: 8 x max-body, at least 4mb)
      --worker-heap SIZE   per worker: V8 old-generation limit (default 1gb, 64mb to 16gb); a
                           worker past it dies and is restarted. Under 2gb each worker also
                           shares V8's builtins with the process instead of copying them
      --heap-release-after DUR  per worker: after this long without a request, a worker that
                           served gives the heap a burst made V8 keep back to the system
                           (default 5m; the next burst then grows it again, at some cost)
      --value-format F     stored value: msgpack (default), json (JSON bodies stored as sent)
                           or raw (remote_write/Influx/OTLP bodies stored as received)
      --max-batch-bytes SIZE  most bytes the owner holds for the next commit while one is in
                           flight (default 64mb); past it rings fill and writers answer 503
      --admin-port N       Prometheus /metrics port (default 9464; 0 picks one; off disables)
      --admin-host ADDR    admin listen address (default 127.0.0.1: not exposed by default)
      --log-level LEVEL    pino level: fatal|error|warn|info|debug|trace|silent (default info)
  Authentication, limits, TLS (README: Tenants and security):
      --auth MODE          client-id (default: the Authorization value names the client,
                           unchecked) or tokens (tenants and token hashes from --auth-file)
      --auth-file FILE     tokens mode: JSON with tenants, sha256 token hashes, certificate
                           subjects, rate limits; reloaded on SIGHUP (npm run hash-token)
      --tls-cert FILE      PEM certificate (chain): HTTPS on the data port (with --tls-key)
      --tls-key FILE       PEM private key; both reloaded on SIGHUP
      --tls-client-ca FILE PEM CA: require client certificates signed by it (mTLS)
  Kafka mode:
      --brokers H:P[,H:P]  bootstrap servers (required)
      --topic NAME         topic (default metrics)
      --compression C      none (default)|gzip|snappy|lz4|zstd, compressed off the owner thread
      --[no-]idempotent    idempotent producer (one request in flight): the default with
                           acks all and --kafka-retries > 0; --no-idempotent turns it off
      --fallback none|file when Kafka is down: answer 503 (default) or spill to the local log
      --kafka-timeout DUR  one produce request's timeout (default 10s)
      --kafka-retries N    retries of a failed send, with backoff (default 3); a silent broker
                           holds a request about (retries+1) x 2 x kafka-timeout before 503/spill
      --kafka-request-bytes SIZE  largest share of one partition in one produce request; a
                           bigger commit is sent as several requests, in order (default 900kb,
                           under the broker's 1 MB message.max.bytes)
${KAFKA_SECURITY_USAGE}
      --config FILE        read flags from a JSON file ({"workers": 4, "data-dir": "/var/lib/metricstream"})
  -h, --help               this text

Sizes take b, kb, mb, gb (powers of 1024); durations take ms, s, m.

${layersHelp(ENV_PREFIX, 'data-dir')}`;

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/**
 * parseConfig over the command line completed from METRICSTREAM_* variables and the
 * --config file (flag > environment > file > default); a bad value's message names the
 * variable or file it came from. Returns undefined for --help. Throws UsageError.
 */
export function parseConfigLayers(argv: string[], env: NodeJS.ProcessEnv): GatewayConfig | undefined {
  const layered = layerArgv(argv, OPTIONS, { envPrefix: ENV_PREFIX, env });
  // layerArgv drops a switch set to false; --idempotent defaults to on at acks all, so a
  // false from the environment or the file must reach the parse as --no-idempotent.
  if (layered.origin.has('idempotent') && !layered.argv.includes('--idempotent')) layered.argv.unshift('--no-idempotent');
  try {
    return parseConfig(layered.argv);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(explainOrigin(e.message, layered.origin));
    throw e;
  }
}

/** Parses argv (without node and script); returns undefined for --help. Throws UsageError. */
export function parseConfig(argv: string[]): GatewayConfig | undefined {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false, allowNegative: true }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return undefined;
  const mode = oneOf('mode', values.mode ?? 'file', ['file', 'kafka'] as const);
  const acksText = values.acks ?? (mode === 'kafka' ? 'all' : '1');
  let acks: 0 | 1 | -1;
  if (mode === 'file') acks = Number(oneOf('acks', acksText, ['0', '1'] as const)) as 0 | 1;
  else acks = acksText === 'all' || acksText === '-1' ? -1 : (Number(oneOf('acks', acksText, ['all', '-1', '0', '1'] as const)) as 0 | 1);
  const maxBody = parseSize('max-body', values['max-body'] ?? '1mb');
  if (maxBody < 64) throw new UsageError('--max-body must be at least 64 bytes');
  if (maxBody > MAX_RECORD_VALUE) {
    throw new UsageError(`--max-body ${maxBody} is over ${MAX_RECORD_VALUE} bytes, the largest record value the log can frame (16 MiB minus headers and a 1 KiB client id)`);
  }
  const maxDecodedBody = values['max-decoded-body'] !== undefined ? parseSize('max-decoded-body', values['max-decoded-body']) : maxBody;
  if (maxDecodedBody < maxBody || maxDecodedBody > MAX_RECORD_VALUE) {
    throw new UsageError(`--max-decoded-body must be from --max-body (${maxBody}) to ${MAX_RECORD_VALUE} bytes`);
  }
  const maxInflightBytes =
    values['max-inflight-bytes'] !== undefined ? parseSize('max-inflight-bytes', values['max-inflight-bytes']) : Math.max(16 * 1024 ** 2, 4 * (maxBody + maxDecodedBody));
  if (maxInflightBytes < maxBody + maxDecodedBody) {
    throw new UsageError(`--max-inflight-bytes must hold at least one largest body, wire plus decoded (${maxBody + maxDecodedBody} bytes)`);
  }
  const bodyLimit = Math.max(maxBody, maxDecodedBody);
  const ringBytes = values['ring-bytes'] !== undefined ? parseSize('ring-bytes', values['ring-bytes']) : Math.max(4 * 1024 ** 2, nextPowerOfTwo(8 * (bodyLimit + 2048)));
  if ((ringBytes & (ringBytes - 1)) !== 0 || ringBytes < 1024 || ringBytes > 2 ** 30) {
    throw new UsageError('--ring-bytes must be a power of two from 1kb to 1gb');
  }
  const workerHeapBytes = parseSize('worker-heap', values['worker-heap'] ?? '1gb');
  if (workerHeapBytes < 64 * 1024 ** 2 || workerHeapBytes > 16 * 1024 ** 3) throw new UsageError('--worker-heap must be from 64mb to 16gb');
  const brokers = (values.brokers ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  if (mode === 'kafka' && brokers.length === 0) throw new UsageError('--mode kafka needs --brokers host:port[,host:port]');
  for (const b of brokers) if (!/^[^:\s]+:\d+$/.test(b)) throw new UsageError(`--brokers: "${b}" is not host:port`);
  const kafkaRetries = parseInteger('kafka-retries', values['kafka-retries'] ?? '3', 0, 100);
  // Retries made safe where Kafka allows: idempotence needs acks all and kafkajs refuses
  // it without retries, so it is the default exactly there.
  const idempotent = values.idempotent ?? (mode === 'kafka' && acks === -1 && kafkaRetries > 0);
  if (idempotent && acks !== -1) throw new UsageError('--idempotent needs --acks all');
  if (idempotent && kafkaRetries === 0) throw new UsageError('--idempotent needs --kafka-retries of at least 1 (kafkajs refuses an idempotent producer without retries)');
  const auth = oneOf('auth', values.auth ?? 'client-id', ['client-id', 'tokens'] as const);
  if (auth === 'tokens' && values['auth-file'] === undefined) throw new UsageError('--auth tokens needs --auth-file FILE');
  if (auth === 'client-id' && values['auth-file'] !== undefined) throw new UsageError('--auth-file needs --auth tokens');
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (values['tls-client-ca'] !== undefined && values['tls-cert'] === undefined) throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
  const resolved = (file: string | undefined) => (file === undefined ? undefined : path.resolve(file));
  const heapReleaseAfterMs = values['heap-release-after'] !== undefined ? parseDuration('heap-release-after', values['heap-release-after']) : DEFAULT_HEAP_RELEASE_AFTER_MS;
  if (heapReleaseAfterMs <= 0) throw new UsageError('--heap-release-after must be more than 0');
  const diskStallTimeoutMs = values['disk-stall-timeout'] !== undefined ? parseDuration('disk-stall-timeout', values['disk-stall-timeout']) : DEFAULT_STALL_TIMEOUT_MS;
  if (diskStallTimeoutMs <= 0) throw new UsageError('--disk-stall-timeout must be more than 0');
  const journalBytes = values['journal-bytes'] !== undefined ? parseSize('journal-bytes', values['journal-bytes']) : undefined;
  if (journalBytes !== undefined && journalBytes !== 0 && (journalBytes < MIN_JOURNAL_BYTES || journalBytes > MAX_SEGMENT_BYTES)) {
    throw new UsageError(`--journal-bytes must be 0 (no journal) or from 64kb to 1gb, got ${values['journal-bytes']}`);
  }
  const logLevel = oneOf('log-level', values['log-level'] ?? 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const);
  const workers = parseInteger('workers', values.workers ?? String(os.availableParallelism()), 1, 256);
  const partitions = parseInteger('partitions', values.partitions ?? '4', 1, 65535);
  const limit = descriptorLimit();
  const lowered = values['max-connections'] === undefined && limit !== undefined && connectionsWithin(limit, workers, partitions) < DEFAULT_MAX_CONNECTIONS;
  return {
    workers,
    host: values.host ?? '0.0.0.0',
    port: parseInteger('port', values.port ?? '8090', 0, 65535),
    mode,
    dataDir: path.resolve(values['data-dir'] ?? './data'),
    partitions,
    acks,
    maxBody,
    maxDecodedBody,
    maxInflightBytes,
    maxConnections:
      values['max-connections'] !== undefined
        ? parseInteger('max-connections', values['max-connections'], 1, 1_000_000)
        : limit === undefined
          ? DEFAULT_MAX_CONNECTIONS
          : connectionsWithin(limit, workers, partitions),
    maxConnectionsLoweredBy: lowered ? limit : undefined,
    descriptorLimit: limit,
    bodyTimeoutMs: parseDuration('body-timeout', values['body-timeout'] ?? '10s'),
    diskStallTimeoutMs,
    segmentBytes: values['segment-bytes'] !== undefined ? parseSize('segment-bytes', values['segment-bytes']) : undefined,
    retentionBytes: values['retention-bytes'] !== undefined ? parseSize('retention-bytes', values['retention-bytes']) : undefined,
    journalBytes,
    acceptDataLoss: values['accept-data-loss'] ?? false,
    ringBytes,
    workerHeapBytes,
    heapReleaseAfterMs,
    valueFormat: oneOf('value-format', values['value-format'] ?? 'msgpack', ['msgpack', 'json', 'raw'] as const),
    adminPort: values['admin-port'] === 'off' ? -1 : parseInteger('admin-port', values['admin-port'] ?? '9464', 0, 65535),
    adminHost: values['admin-host'] ?? '127.0.0.1',
    logLevel,
    brokers,
    topic: values.topic ?? 'metrics',
    compression: oneOf('compression', values.compression ?? 'none', ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const),
    idempotent,
    flushTimeoutMs: parseDuration('flush-timeout', values['flush-timeout'] ?? '10s'),
    fallback: oneOf('fallback', values.fallback ?? 'none', ['none', 'file'] as const),
    kafkaTimeoutMs: parseDuration('kafka-timeout', values['kafka-timeout'] ?? '10s'),
    kafkaRetries,
    maxBatchBytes: parseSize('max-batch-bytes', values['max-batch-bytes'] ?? '64mb'),
    kafkaRequestBytes: parseSize('kafka-request-bytes', values['kafka-request-bytes'] ?? '900kb'),
    auth,
    authFile: resolved(values['auth-file']),
    tlsCert: resolved(values['tls-cert']),
    tlsKey: resolved(values['tls-key']),
    tlsClientCa: resolved(values['tls-client-ca']),
    kafkaSecurity: parseKafkaSecurity(values),
  };
}
