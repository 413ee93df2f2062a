/**
 * Drives POST /metrics load with autocannon: N concurrent keep-alive connections, each
 * with its own client id in the Authorization header, sending a fixed number of requests
 * each (the predecessor's `load_test <port> <clients> <requests>`) or for a duration.
 * Used by the `npm run load` CLI and by benchmarks in-process.
 */
import { createHistogram, performance } from 'node:perf_hooks';
import { autocannon } from './autocannon.ts';
import type { AutocannonClient, AutocannonResult } from './autocannon.ts';
import { buildBody, CONTENT_TYPES } from './bodies.ts';
import type { BodyFormat } from './bodies.ts';

/** What to load and how hard. Either `requests` or `durationSeconds` bounds the run. */
export interface LoadOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default /metrics. */
  path?: string;
  /** https: TLS to the gateway (the certificate is not verified: a load tool, not a client). */
  https?: boolean;
  /** The Authorization value of connection `i` (default: the client id `${clientIdPrefix}${i}`). */
  authorization?: (client: number) => string;
  /** Concurrent connections, one client id each. */
  clients: number;
  /** Requests per connection (exact); total is clients * requests. */
  requests?: number;
  /** Run for this many seconds instead of a request count. */
  durationSeconds?: number;
  /** Metrics in each request body. Default 1. */
  metricsPerRequest?: number;
  /** Default json. */
  format?: BodyFormat;
  /** Seconds without an answer before a request counts as a timeout. Default 10. */
  timeoutSeconds?: number;
  /** Client ids are `${clientIdPrefix}${i}` for i = 0..clients-1. Default load_client_. */
  clientIdPrefix?: string;
  /** Render autocannon's progress bar on stderr (only draws when stderr is a TTY). */
  progress?: boolean;
  /** Aborting ends the run early; the summary then covers what was measured. */
  signal?: AbortSignal;
  /**
   * A body of another protocol (remote_write, line protocol, OTLP) sent instead of the
   * built POST /metrics body; `metricsPerRequest` must say how many samples it holds.
   */
  rawBody?: { bytes: Buffer; contentType: string; headers?: Record<string, string> };
}

/** Latency of answered requests (every status, not only 2xx), in milliseconds. */
export interface LatencySummary {
  avg: number;
  p50: number;
  p99: number;
  max: number;
}

/** The outcome of one load run; the `--json` output is exactly this object. */
export interface LoadSummary {
  url: string;
  format: BodyFormat;
  clients: number;
  /** Requests per client, or null for a duration run. */
  requestsPerClient: number | null;
  /** Configured duration, or null for a request-count run. */
  durationSeconds: number | null;
  metricsPerRequest: number;
  /** Requests written to a connection. */
  sent: number;
  /**
   * The denominator of successRate. A completed request-count run: every request sent
   * (clients * requests). A duration run or an aborted one: responses + errors, since
   * requests still in flight when the run stops have no outcome.
   */
  total: number;
  /** Requests answered with any HTTP status. */
  responses: number;
  /** Requests answered 2xx. */
  succeeded: number;
  /** succeeded / total, 0..1 (0 when nothing was sent). */
  successRate: number;
  /** Wall time from start to the last answer (request-count run) or of the run (duration run). */
  elapsedSeconds: number;
  /** responses / elapsedSeconds. */
  requestsPerSecond: number;
  /** succeeded * metricsPerRequest / elapsedSeconds. */
  metricsPerSecond: number;
  latencyMs: LatencySummary;
  /** Count per HTTP status, e.g. {"200": 1000}. */
  statusCodes: Record<string, number>;
  /** Connection errors including timeouts. */
  errors: number;
  timeouts: number;
  /**
   * total - responses - errors: requests whose connection the server closed before
   * answering (autocannon reconnects without counting those as errors). Always 0 for
   * duration and aborted runs.
   */
  unanswered: number;
  /** Whether the run was ended early through `signal`. */
  aborted: boolean;
}

/**
 * Runs one load test against http://host:port/path and resolves with its summary once
 * every connection has sent its requests (or the duration has passed, or `signal`
 * aborted). Rejects on invalid options. Server failures are not rejections: they show
 * up as errors, timeouts and non-2xx counts in the summary.
 */
export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  const o = normalize(options);
  const body = options.rawBody?.bytes ?? buildBody(o.format, o.metricsPerRequest);
  const url = `${options.https ? 'https' : 'http'}://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}${o.path}`;

  // autocannon's own latency histogram keeps whole milliseconds, too coarse for a
  // sub-millisecond gateway, so latencies are recorded here in microseconds.
  const latencyUs = createHistogram();
  let sent = 0;
  let responses = 0;
  let succeeded = 0;
  let nextClient = 0;
  const started = performance.now();
  let lastEvent = started;

  const instance = autocannon({
    url,
    method: 'POST',
    body,
    headers: { 'content-type': options.rawBody?.contentType ?? CONTENT_TYPES[o.format], ...options.rawBody?.headers },
    connections: o.clients,
    ...(o.requests !== null ? { amount: o.clients * o.requests } : { duration: o.durationSeconds! }),
    timeout: o.timeoutSeconds,
    // A request-count run ends only when the sampler next looks; 100 ms keeps that short.
    sampleInt: 100,
    setupClient(client: AutocannonClient) {
      // autocannon builds clients in order, once per connection, and a reconnecting
      // client keeps its object, so the id stays with the connection slot.
      const i = nextClient++;
      client.setHeaders({
        'content-type': options.rawBody?.contentType ?? CONTENT_TYPES[o.format],
        ...options.rawBody?.headers,
        authorization: options.authorization ? options.authorization(i) : `${o.clientIdPrefix}${i}`,
      });
      // Attached before the client's first write, so every request is counted.
      client.on('request', () => sent++);
    },
  });

  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    responses++;
    if (status >= 200 && status < 300) succeeded++;
    latencyUs.record(Math.max(1, Math.round(ms * 1000)));
    lastEvent = performance.now();
  });
  instance.on('reqError', () => {
    lastEvent = performance.now();
  });
  if (o.progress) {
    autocannon.track(instance, {
      outputStream: process.stderr,
      renderProgressBar: true,
      renderResultsTable: false,
      renderLatencyTable: false,
    });
  }

  let aborted = false;
  const onAbort = () => {
    aborted = true;
    instance.stop();
  };
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });

  let result: AutocannonResult;
  try {
    result = await instance;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  const finished = performance.now();

  const elapsedMs =
    o.durationSeconds !== null
      ? Math.min(finished - started, o.durationSeconds * 1000)
      : Math.max(lastEvent - started, 0.001);
  const elapsedSeconds = elapsedMs / 1000;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
  const countRun = o.requests !== null && !aborted;
  const total = countRun ? Math.max(sent, responses + result.errors) : responses + result.errors;
  const toMs = (us: number) => (responses === 0 ? 0 : round3(us / 1000));

  return {
    url,
    format: o.format,
    clients: o.clients,
    requestsPerClient: o.requests,
    durationSeconds: o.durationSeconds,
    metricsPerRequest: o.metricsPerRequest,
    sent,
    total,
    responses,
    succeeded,
    successRate: total === 0 ? 0 : succeeded / total,
    elapsedSeconds: round3(elapsedSeconds),
    requestsPerSecond: round1(responses / elapsedSeconds),
    metricsPerSecond: round1((succeeded * o.metricsPerRequest) / elapsedSeconds),
    latencyMs: {
      avg: toMs(latencyUs.mean),
      p50: toMs(latencyUs.percentile(50)),
      p99: toMs(latencyUs.percentile(99)),
      max: toMs(latencyUs.max),
    },
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    unanswered: total - responses - result.errors,
    aborted,
  };
}

interface Normalized {
  port: number;
  host: string;
  path: string;
  clients: number;
  requests: number | null;
  durationSeconds: number | null;
  metricsPerRequest: number;
  format: BodyFormat;
  timeoutSeconds: number;
  clientIdPrefix: string;
  progress: boolean;
  signal: AbortSignal | undefined;
}

/** Fills defaults and throws a RangeError naming the first invalid option. */
function normalize(options: LoadOptions): Normalized {
  const { port, clients, requests, durationSeconds } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1..65535, got ${port}`);
  positiveInteger('clients', clients);
  if (requests !== undefined && durationSeconds !== undefined) {
    throw new RangeError('give either requests or durationSeconds, not both');
  }
  if (requests === undefined && durationSeconds === undefined) {
    throw new RangeError('give requests or durationSeconds');
  }
  if (requests !== undefined) positiveInteger('requests', requests);
  if (durationSeconds !== undefined) positiveNumber('durationSeconds', durationSeconds);
  const metricsPerRequest = options.metricsPerRequest ?? 1;
  positiveInteger('metricsPerRequest', metricsPerRequest);
  const timeoutSeconds = options.timeoutSeconds ?? 10;
  positiveNumber('timeoutSeconds', timeoutSeconds);
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'msgpack') throw new RangeError(`format must be json or msgpack, got ${format}`);
  return {
    port,
    host: options.host ?? '127.0.0.1',
    path: options.path ?? '/metrics',
    clients,
    requests: requests ?? null,
    durationSeconds: durationSeconds ?? null,
    metricsPerRequest,
    format,
    timeoutSeconds,
    clientIdPrefix: options.clientIdPrefix ?? 'load_client_',
    progress: options.progress ?? false,
    signal: options.signal,
  };
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

function positiveNumber(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
