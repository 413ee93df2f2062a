/**
 * One HTTP worker thread: parses and validates POST /metrics, picks the partition,
 * writes one record into its own ring and answers once the owner made it durable
 * (--acks 1) or once it is in the ring (--acks 0). Every worker listens on the same port
 * with SO_REUSEPORT; the kernel spreads connections across them.
 */
import http from 'node:http';
import https from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
import { GatewayState } from '../main/gateway-state.ts';
import { partitionFor } from '../records/partitioner.ts';
import { payloadLength, writePayload } from '../records/ring-payload.ts';
import { Doorbell } from '../ring/doorbell.ts';
import { DURABLE_OK, DURABLE_SPILLED, SENT_UNACKNOWLEDGED } from '../ring/ring-descriptor.ts';
import type { RingStorage } from '../ring/ring-storage.ts';
import { FULL, RingWriter } from '../ring/ring-writer.ts';
import { BadRequest, bodyFormat, parseMetricsBody, type BodyFormat } from './metrics-body.ts';
import { WorkerMetrics, type RejectReason } from './worker-metrics.ts';
import { MAX_CLIENT_ID_BYTES, UNAUTHORIZED_MESSAGE, WWW_AUTHENTICATE, type Identity } from '../auth/authenticator.ts';
import { secureContextOptions } from '../auth/tls-material.ts';
import { isAuthMessage, retryAfterSeconds, WorkerAuth, type AuthMessage, type WorkerAuthData } from '../auth/worker-auth.ts';

export interface HttpWorkerData {
  workerId: number;
  ring: RingStorage;
  doorbell: SharedArrayBuffer;
  state: SharedArrayBuffer;
  /** This worker's request counters (worker-metrics.ts), read by the admin endpoint. */
  metrics: SharedArrayBuffer;
  host: string;
  port: number;
  partitions: number;
  /** 0: answer 202 once in the ring; 1: answer 200 once durable. */
  acks: 0 | 1;
  maxBody: number;
  bodyTimeoutMs: number;
  storeFormat: BodyFormat;
  /** Authentication, tenant limits and counters, TLS (src/auth/worker-auth.ts). */
  auth: WorkerAuthData;
}

/** Messages a worker posts to the supervisor: lifecycle only, never one per request. */
export type WorkerMessage =
  | { type: 'listening'; workerId: number; port: number }
  | { type: 'drained'; workerId: number; requests: number };

const config = workerData as HttpWorkerData;
const ring = new RingWriter(config.ring, new Doorbell(config.doorbell));
const view = new DataView(ring.bytes.buffer);
const state = new GatewayState(config.state);
const metrics = new WorkerMetrics(config.metrics);
const auth = new WorkerAuth(config.auth);
const RETRY_AFTER_SECONDS = '1';

const JSON_HEADERS = { 'content-type': 'application/json' };
const CLOSE_HEADERS = { 'content-type': 'application/json', connection: 'close' };
const RETRY_HEADERS = { 'content-type': 'application/json', 'retry-after': RETRY_AFTER_SECONDS };

let openRequests = 0;
let requestsServed = 0;
let draining = false;
/** Requests still receiving their body, with the time they started: the slow-body sweep. */
const receiving = new Map<http.IncomingMessage, { res: http.ServerResponse; started: number }>();

/** When each response's request arrived, for the latency histogram. */
const startedAt = new WeakMap<http.ServerResponse, number>();
/** Who wrote each authenticated request, and its samples and body bytes once known. */
const writers = new WeakMap<http.ServerResponse, { who: Identity; samples: number; bytes: number }>();

function reply(res: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = JSON_HEADERS): void {
  if (res.headersSent || res.destroyed) return;
  metrics.response(status, (performance.now() - (startedAt.get(res) ?? performance.now())) / 1000);
  const writer = writers.get(res);
  if (writer !== undefined) auth.answered(writer.who, status, writer.samples, writer.bytes);
  res.statusCode = status;
  for (const name in headers) res.setHeader(name, headers[name]!);
  // A content-length instead of chunked encoding: one write, fewer bytes.
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

function error(res: http.ServerResponse, status: number, reason: RejectReason, message: string, headers?: http.OutgoingHttpHeaders): void {
  metrics.reject(reason);
  reply(res, status, JSON.stringify({ error: message }), headers);
}

function onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  openRequests++;
  startedAt.set(res, performance.now());
  res.once('close', onResponseClosed);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === '/metrics') {
    if (req.method !== 'POST') return refuseBody(req, res, 405, 'method_not_allowed', 'use POST /metrics', { ...CLOSE_HEADERS, allow: 'POST' });
    return acceptMetrics(req, res);
  }
  if (path === '/healthz' || path === '/readyz') {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return refuseBody(req, res, 405, 'method_not_allowed', `use GET ${path}`, { ...CLOSE_HEADERS, allow: 'GET, HEAD' });
    }
    if (path === '/healthz') return reply(res, 200, '{"status":"ok"}');
    if (state.draining) return reply(res, 503, '{"ready":false,"reason":"shutting down"}');
    if (!state.ready) return reply(res, 503, '{"ready":false,"reason":"sink not ready"}');
    return reply(res, 200, '{"ready":true}');
  }
  refuseBody(req, res, 404, 'not_found', `no route for ${req.method} ${path}`);
}

/** Answers at once and closes the connection, so an unread body costs us nothing more. */
function refuseBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  reason: RejectReason,
  message: string,
  headers: http.OutgoingHttpHeaders = CLOSE_HEADERS,
): void {
  error(res, status, reason, message, headers);
  req.resume();
}

function acceptMetrics(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (draining || state.draining) {
    return refuseBody(req, res, 503, 'shutting_down', 'shutting down, retry on another gateway', { ...CLOSE_HEADERS, 'retry-after': RETRY_AFTER_SECONDS });
  }
  // Who writes, before anything reads the body: one place for every endpoint.
  const who = auth.identify(req);
  if (who === undefined) {
    if (auth.mode === 'client-id' && (req.headers.authorization ?? '').trim() === '') {
      return refuseBody(req, res, 401, 'no_client_id', 'missing Authorization header: send the client id, e.g. "Authorization: my_client"');
    }
    return refuseBody(req, res, 401, 'unauthorized', UNAUTHORIZED_MESSAGE, { ...CLOSE_HEADERS, 'www-authenticate': WWW_AUTHENTICATE });
  }
  writers.set(res, { who, samples: 0, bytes: 0 });
  const wait = auth.blocked(who);
  if (wait > 0) return refuseBody(req, res, 429, 'throttled', `tenant ${who.tenant} is over its rate limit, retry later`, { ...CLOSE_HEADERS, 'retry-after': retryAfterSeconds(wait) });
  const format = bodyFormat(req.headers['content-type']);
  if (format === undefined) {
    return refuseBody(req, res, 415, 'unsupported_media_type', 'Content-Type must be application/json or application/msgpack');
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > config.maxBody) {
    return refuseBody(req, res, 413, 'too_large', `body of ${declared} bytes exceeds --max-body ${config.maxBody}`);
  }
  const key = Buffer.from(who.tenant, 'utf8');
  if (key.length > MAX_CLIENT_ID_BYTES) {
    return refuseBody(req, res, 400, 'bad_body', `client id longer than ${MAX_CLIENT_ID_BYTES} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  receiving.set(req, { res, started: Date.now() });
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > config.maxBody) {
      receiving.delete(req);
      error(res, 413, 'too_large', `body exceeds --max-body ${config.maxBody} bytes`, CLOSE_HEADERS);
      req.removeAllListeners('data');
      req.resume();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!receiving.delete(req)) return; // already answered (413 or 408)
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    publish(res, who, key, body, format);
  });
  req.on('error', () => receiving.delete(req));
}

function publish(res: http.ServerResponse, who: Identity, key: Buffer, body: Buffer, format: BodyFormat): void {
  let parsed;
  try {
    parsed = parseMetricsBody(body, format, config.storeFormat);
  } catch (e) {
    if (e instanceof BadRequest) return error(res, 400, 'bad_body', e.message);
    throw e;
  }
  const writer = writers.get(res)!;
  writer.samples = parsed.count;
  writer.bytes = body.length;
  const wait = auth.take(who, parsed.count, body.length);
  if (wait > 0) return error(res, 429, 'throttled', `tenant ${who.tenant} is over its rate limit, retry later`, { ...JSON_HEADERS, 'retry-after': retryAfterSeconds(wait) });
  if (draining || state.draining) return error(res, 503, 'shutting_down', 'shutting down, retry on another gateway', RETRY_HEADERS);
  const length = payloadLength(key.length, parsed.value.length);
  if (length > ring.maxPayload) {
    return error(res, 413, 'too_large', `record of ${length} bytes exceeds the ring's maximum record of ${ring.maxPayload} bytes`);
  }
  const partition = partitionFor(key, config.partitions);
  const index = ring.tryClaim(parsed.contentType, length);
  if (index === FULL) return error(res, 503, 'ring_full', 'ingest ring full, retry later', RETRY_HEADERS);
  writePayload(ring.bytes, view, index, Date.now(), partition, key, parsed.value);
  const count = parsed.count;
  metrics.accepted(count);
  if (config.acks === 0) {
    ring.commit();
    return reply(res, 202, `{"accepted":${count},"partition":${partition}}`);
  }
  ring.commit((status, p, offset) => {
    if (status === DURABLE_OK) reply(res, 200, `{"accepted":${count},"partition":${p},"offset":${offset}}`);
    else if (status === SENT_UNACKNOWLEDGED) reply(res, 202, `{"accepted":${count},"partition":${p}}`);
    else if (status === DURABLE_SPILLED) reply(res, 202, `{"accepted":${count},"partition":${p},"spilled":true}`);
    else error(res, 503, 'sink_failed', 'the sink could not make the record durable, retry later', RETRY_HEADERS);
  });
}

function onResponseClosed(): void {
  openRequests--;
  requestsServed++;
  if (draining) maybeDrained();
}

const serverOptions = { requestTimeout: 0, headersTimeout: config.bodyTimeoutMs, keepAliveTimeout: 5000 };
// HTTPS runs the same handler; only the listening socket differs.
const tls = config.auth.tls;
const server = tls === undefined ? http.createServer(serverOptions, onRequest) : https.createServer({ ...serverOptions, ...secureContextOptions(tls) }, onRequest);

server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
  if (!socket.writable || err.code === 'ECONNRESET') return socket.destroy();
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
  const body = JSON.stringify({ error: `malformed HTTP request (${err.code ?? 'parse error'})` });
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
});

// Slow bodies: one sweep a second instead of a timer per request.
const sweeper = setInterval(() => {
  const now = Date.now();
  ring.heartbeat(now);
  for (const [req, { res, started }] of receiving) {
    if (now - started > config.bodyTimeoutMs) {
      receiving.delete(req);
      error(res, 408, 'slow_body', `request body not received within ${config.bodyTimeoutMs} ms`, CLOSE_HEADERS);
      req.destroy();
    }
  }
}, 1000);
sweeper.unref();

/** While draining, --acks 0 records have no durable callback to move the cursor: poll it. */
let drainPoll: NodeJS.Timeout | undefined;

function maybeDrained(): void {
  ring.poll();
  if (openRequests > 0 || ring.inFlight > 0) return;
  draining = false; // report once
  clearInterval(drainPoll);
  parentPort!.postMessage({ type: 'drained', workerId: config.workerId, requests: requestsServed } satisfies WorkerMessage);
  server.closeAllConnections();
  clearInterval(sweeper);
  parentPort!.close();
}

/** A reload from the supervisor: new connections use the new certificate, open ones keep theirs. */
function applyAuthMessage(message: AuthMessage): void {
  if (message.type === 'auth-table') auth.setTable(message.table);
  else if (server instanceof https.Server) server.setSecureContext(secureContextOptions(message.material));
}

parentPort!.on('message', (message: { type: string }) => {
  if (isAuthMessage(message)) return applyAuthMessage(message);
  if (message.type !== 'drain') return;
  draining = true;
  server.close();
  server.closeIdleConnections();
  drainPoll = setInterval(maybeDrained, 5);
  maybeDrained();
});

server.listen({ host: config.host, port: config.port, reusePort: true }, () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  parentPort!.postMessage({ type: 'listening', workerId: config.workerId, port } satisfies WorkerMessage);
});
