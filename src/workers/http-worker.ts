/**
 * One HTTP worker thread, one loop for every wire protocol (src/protocols/protocol.ts):
 *
 *   route -> protocol.begin -> read the body within its limits (body-reader.ts) ->
 *   protocol.decode -> claim ring space -> await durability -> protocol.ok / fail
 *
 * It writes one record per request into its own ring and answers once the owner made it
 * durable (--acks 1) or once it is in the ring (--acks 0). Every worker listens on the
 * same port with SO_REUSEPORT; the kernel spreads connections across them.
 *
 * Nothing a client sends may take this thread down: protocols throw ProtocolError only,
 * and anything else thrown while handling a request is answered 500 and reported to the
 * supervisor (rate-limited), never re-thrown.
 */
import type { IncomingMessage, ServerOptions } from 'node:http';
import type https from 'node:https';
import type { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { GatewayState } from '../main/gateway-state.ts';
import { ProtocolRoutes } from '../protocols/index.ts';
import { ProtocolError, type Answer, type Outcome, type Protocol, type RequestContext } from '../protocols/protocol.ts';
import { partitionFor } from '../records/partitioner.ts';
import { payloadLength, writePayload } from '../records/ring-payload.ts';
import { Doorbell } from '../ring/doorbell.ts';
import { DURABLE_OK, DURABLE_REFUSED, DURABLE_SPILLED, DURABLE_UNKNOWN, SENT_UNACKNOWLEDGED } from '../ring/ring-descriptor.ts';
import type { RingStorage } from '../ring/ring-storage.ts';
import { FULL, RingWriter } from '../ring/ring-writer.ts';
import { BodyError, BodyReader, InflightBudget, Reservation } from './body-reader.ts';
import { GatewayResponse } from './gateway-response.ts';
import { ignoredTooMany, MAX_IGNORED, MAX_PIPELINED, requestArrived, requestClosed } from '../http/pipelining.ts';
import { cutSlowReader, readsTooSlowly } from '../http/slow-readers.ts';
import { answerClientError, answerConnect, checkIntervalMs, ConnectionCap } from '../http/connection-cap.ts';
import { OncePerSecond } from '../http/once-a-second.ts';
import { chunkedOnly, parseContentEncoding, SUPPORTED_ENCODINGS } from './content-encoding.ts';
import { WorkerMetrics, type RejectReason } from './worker-metrics.ts';
import { DroppedBuffers, IdleHeapRelease, releaseWorkerHeap, settleWorkerHeap } from './settle-heap.ts';
import { isRefusal, WWW_AUTHENTICATE } from '../auth/authenticator.ts';
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
  /** Largest body on the wire. */
  maxBody: number;
  /** Largest body after Content-Encoding (and a protocol's own decompression). */
  maxDecodedBody: number;
  /** Largest key + value the sink can store (the log's frame limit minus its overhead). */
  maxRecordValue: number;
  /** Bytes this worker may hold for bodies in flight and records awaiting the owner. */
  maxInflightBytes: number;
  /** Open connections this worker keeps; over it a new one gets 503 and is closed. */
  maxConnections: number;
  bodyTimeoutMs: number;
  /** --disk-stall-timeout: the owner's disk work running longer, timed here, is a stall (GatewayState). */
  diskStallTimeoutMs: number;
  /** Whether --log-level lets error lines through: see ownerHeld. */
  logErrors: boolean;
  /** Quiet time after which a worker that served gives its heap back (--heap-release-after). */
  heapReleaseAfterMs: number;
  storeFormat: 'msgpack' | 'json' | 'raw';
  /** Authentication, tenant limits and counters, TLS (src/auth/worker-auth.ts). */
  auth: WorkerAuthData;
}

/** Messages a worker posts to the supervisor: lifecycle and rate-limited warnings only. */
export type WorkerMessage =
  | { type: 'listening'; workerId: number; port: number }
  | { type: 'drained'; workerId: number; requests: number }
  | { type: 'auth-applied'; workerId: number; generation: number }
  | { type: 'warn'; workerId: number; msg: string; what: string; count: number; detail?: string };

const config = workerData as HttpWorkerData;
// Node's builtins without their ESM wrapper: `import http from 'node:http'` builds a
// namespace of every export, and reading http's lazy WebSocket/MessageEvent getters loads
// undici, http2 and web streams (70 modules, 2.5 MB of heap per worker: issue 15, memory).
// https (with tls and crypto, 1 MB more) only when the data port serves TLS.
const http = process.getBuiltinModule('node:http');
const ring = new RingWriter(config.ring, new Doorbell(config.doorbell));
const view = new DataView(ring.bytes.buffer);
const state = new GatewayState(config.state, config.diskStallTimeoutMs, config.logErrors ? ownerHeld : undefined);
const metrics = new WorkerMetrics(config.metrics);
// Released bytes are dropped buffers: collected soon, so memory follows the budget.
const droppedBuffers = new DroppedBuffers((collection) => metrics.collected(collection));
const budget = new InflightBudget(config.maxInflightBytes, (bytes) => droppedBuffers.dropped(bytes));
// The seed protocol now, the others on their first request (index.ts: memory per worker).
const routes = new ProtocolRoutes({ valueFormat: config.storeFormat, maxDecodedBody: config.maxDecodedBody });
const RETRY_AFTER = { 'retry-after': '1' };
/** The query of every request without one (protocol.ts: begin() only reads it). */
const NO_QUERY = new URLSearchParams();
/** The seed endpoint's 504: the record was sent and no answer came (Kafka timeout). */
const UNKNOWN_MESSAGE = 'no answer from the sink in time: the record may have been stored (a retry may store it twice)';
const auth = new WorkerAuth(config.auth);

/**
 * Test-only hooks, with the environment variable METRICSTREAM_TEST_HOOKS=1 (the tests of
 * the restart path and of the 500 path): `POST /__test/crash` throws outside any handler
 * and kills this thread; `POST /__test/throw` throws inside the request handler (a bug);
 * `POST /__test/leak` keeps allocating until the worker's heap limit (--worker-heap) ends it;
 * `POST /__test/block` keeps the thread busy for 3 s without answering (a stuck worker);
 * `GET /__test/large?bytes=N` answers N bytes (up to 64 MiB), keeping the connection (a
 * client that does not read fills the socket buffers with a few of them: slow-readers.ts).
 * Without the variable these paths are ordinary 404s.
 */
const TEST_HOOKS = process.env.METRICSTREAM_TEST_HOOKS === '1';
let largeAnswer = Buffer.alloc(0);

let openRequests = 0;
let requestsServed = 0;
let draining = false;
/** Bodies being received or decoded, with the time their request started: the body-timeout sweep. */
const receiving = new Map<BodyReader, number>();
/** Node's headers-timeout checks, the sweep below, and the wait before a connection without a request may be evicted. */
const CHECK_INTERVAL_MS = checkIntervalMs(config.bodyTimeoutMs);
/**
 * The open connections and --max-connections: at the cap one that sent no request is closed
 * to make room (connectionToEvict), so an idle flood cannot lock out clients that send
 * requests; a connection whose last answer is given ignores what it sends after
 * (pipelining.ts), since Node writes no answer after a `Connection: close` one.
 */
const connections = new ConnectionCap(config.maxConnections, CHECK_INTERVAL_MS, {
  full: `this gateway worker has ${config.maxConnections} connections open (--max-connections), retry later`,
  madeRoom: 'closed to make room: no request yet while this gateway worker is at --max-connections',
});

/**
 * The disk holds the owner thread (GatewayState: its disk work stalled and its tick
 * stopped), so that thread can log nothing, and a message to it would wait too. This is
 * the one line a worker writes itself: straight to fd 1, synchronously, in the owner's
 * JSON line format (pino's), once per stall among all workers. The owner reports the
 * stall again, with its count on /metrics, when the disk answers (StallWatch).
 */
function ownerHeld(diskWorkMs: number, silentMs: number): void {
  const line = {
    level: 50,
    time: Date.now(),
    pid: process.pid,
    worker: config.workerId,
    kind: 'stall',
    diskWorkMs: Math.round(diskWorkMs),
    msg:
      `the disk has held the owner thread for ${Math.round(silentMs)} ms (a write or fdatasync that does not return, past --disk-stall-timeout): ` +
      '/readyz and new requests are answered 503; log lines, /metrics, worker restarts and SIGTERM wait until the disk answers',
  };
  process.getBuiltinModule('node:fs').writeSync(1, `${JSON.stringify(line)}\n`);
}

/** Warnings to the supervisor, at most one per kind per second, with the count since. */
const warnings = new OncePerSecond();
function warn(what: string, msg: string, detail?: string): void {
  const count = warnings.due(what);
  if (count !== undefined) parentPort!.postMessage({ type: 'warn', workerId: config.workerId, what, msg, count, detail } satisfies WorkerMessage);
}

/** Writes `answer` (once), counting it; `close` ends the connection after it. */
function send(res: GatewayResponse, answer: Answer, close = false): void {
  if (res.headersSent || res.destroyed) return;
  metrics.response(answer.status, (performance.now() - res.startedAt) / 1000);
  const write = res.tenantWrite;
  if (write !== undefined) auth.answered(write.who, answer.status, write.samples, write.bytes);
  // One writeHead with every header, as a flat [name, value, ...] list: Node then formats
  // them straight into the head, where each setHeader() would first validate and store
  // them in the response's header map (bench/ISSUE-15.md, sixth round).
  const head: string[] = [];
  if (answer.headers !== undefined) for (const name in answer.headers) head.push(name, answer.headers[name]);
  if (close) head.push('connection', 'close');
  // A content-length instead of chunked encoding: one write, fewer bytes.
  head.push('content-length', String(typeof answer.body === 'string' ? Buffer.byteLength(answer.body) : answer.body.length));
  res.writeHead(answer.status, head);
  res.end(answer.body);
}

/**
 * The query of `rawUrl` (whose '?' is at `q`, -1 for none) as URL parsing reads it: a
 * fragment, which Node passes through from the request line, is not part of it.
 */
function queryOf(rawUrl: string, q: number): URLSearchParams {
  if (q === -1) return NO_QUERY;
  const hash = rawUrl.indexOf('#', q);
  return new URLSearchParams(hash === -1 ? rawUrl.slice(q + 1) : rawUrl.slice(q + 1, hash));
}

/** An error in the worker's own JSON convention (paths no protocol owns, health checks). */
function jsonError(status: number, message: string, headers?: Record<string, string>): Answer {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ error: message }) };
}

/**
 * Refuses a request whose body is not (fully) read: answers, closes the connection after
 * the answer, and discards what still arrives meanwhile so the client can read the
 * answer instead of getting a reset.
 */
function refuse(req: IncomingMessage, res: GatewayResponse, reason: RejectReason, answer: Answer): void {
  metrics.reject(reason);
  connections.lastAnswerGiven(req.socket);
  send(res, answer, true);
  req.resume();
}

/**
 * Refuses a request over MAX_PIPELINED (pipelining.ts): answered after the requests before
 * it, and the connection closed by Node once that answer is written (or by the slow-reader
 * sweep if the client reads too little for it to be).
 */
function refusePipelined(req: IncomingMessage, res: GatewayResponse, answer: Answer): void {
  warn('pipelined', `refused a request with ${MAX_PIPELINED} others in flight on its connection (HTTP pipelining) and closed the connection`);
  refuse(req, res, 'pipelined', answer);
}

/** The answer to a request over MAX_PIPELINED, in `protocol`'s error format (JSON without one). */
function pipelinedAnswer(protocol: Protocol | undefined): Answer {
  const message = `${MAX_PIPELINED} requests were in flight on this connection (HTTP pipelining): not stored; the connection is closed, retry this request and those sent after it`;
  return protocol === undefined ? jsonError(503, message, RETRY_AFTER) : protocol.fail(undefined, 503, message, RETRY_AFTER);
}

function onRequest(req: IncomingMessage, res: GatewayResponse, expectContinue = false): void {
  const socket = req.socket;
  if (connections.isClosing(socket)) {
    // Sent after the connection's last answer: ignored, within a bound (pipelining.ts).
    // Node parses the rest of what it read even after a destroy.
    if (!socket.destroyed && ignoredTooMany(socket)) {
      warn('pipelined_after_close', `closed a connection that sent more than ${MAX_IGNORED} requests after its last answer`);
      socket.destroy();
    }
    return;
  }
  connections.requested(socket);
  openRequests++;
  res.startedAt = performance.now();
  // Every byte held for this request is reserved from the worker's budget until answered.
  const reservation = new Reservation(budget);
  res.reservation = reservation;
  // One shared listener, no closure: 'close' comes once (Node's emitCloseNT guards it).
  res.on('close', onResponseClosed);
  const inFlight = requestArrived(socket);
  handle(req, res, expectContinue, reservation, inFlight).catch((err: unknown) => {
    // A bug, not the client's doing: answer 500, keep the thread alive, tell the supervisor.
    warn('internal_error', 'request handler failed; answered 500', err instanceof Error ? (err.stack ?? err.message) : String(err));
    if (!res.headersSent) refuse(req, res, 'internal_error', jsonError(500, 'internal error'));
    else res.destroy();
  });
}

async function handle(req: IncomingMessage, res: GatewayResponse, expectContinue: boolean, reservation: Reservation, inFlight: number): Promise<void> {
  // RFC 9112 (3.2); Node's own check (requireHostHeader, off) answers without a JSON body or a count.
  if (req.headers.host === undefined && req.httpVersion === '1.1') {
    return refuse(req, res, 'bad_body', jsonError(400, 'an HTTP/1.1 request needs a Host header'));
  }
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  if (path === '/healthz' || path === '/readyz') {
    // Counted like any request: health checks pipelined without reading are no way around the limit.
    return inFlight > MAX_PIPELINED ? refusePipelined(req, res, pipelinedAnswer(undefined)) : health(req, res, path);
  }
  if (TEST_HOOKS && path === '/__test/crash') {
    setImmediate(() => {
      throw new Error('crash requested through the test hook (METRICSTREAM_TEST_HOOKS=1)');
    });
    return;
  }
  if (TEST_HOOKS && path === '/__test/leak') {
    const kept: number[][] = [];
    const grow = (): void => {
      for (let i = 0; i < 64; i++) kept.push(new Array<number>(1 << 16).fill(i + 0.5));
      setImmediate(grow);
    };
    return grow();
  }
  if (TEST_HOOKS && path === '/__test/block') {
    for (const end = Date.now() + 3000; Date.now() < end; );
    return refuse(req, res, 'internal_error', jsonError(500, 'blocked for 3 s through the test hook'));
  }
  if (TEST_HOOKS && path === '/__test/throw') throw new Error('bug simulated through the test hook (METRICSTREAM_TEST_HOOKS=1)');
  if (TEST_HOOKS && path === '/__test/large') {
    const bytes = Math.min(Number(queryOf(rawUrl, q).get('bytes')) || 0, 64 << 20);
    // One buffer shared by every answer: what a slow reader costs, not what the hook does.
    if (largeAnswer.length < bytes) largeAnswer = Buffer.alloc(bytes, 'x');
    return send(res, { status: 200, headers: { 'content-type': 'text/plain' }, body: largeAnswer.subarray(0, bytes) });
  }
  const route = routes.get(path);
  const protocol = route instanceof Promise ? await route : route;
  if (protocol === undefined) return refuse(req, res, 'not_found', jsonError(404, `no route for ${req.method} ${path}`));
  if (inFlight > MAX_PIPELINED) return refusePipelined(req, res, pipelinedAnswer(protocol));
  if (req.method !== 'POST') {
    return refuse(req, res, 'method_not_allowed', protocol.fail(undefined, 405, `use POST ${path}`, { allow: 'POST' }));
  }
  if (draining || state.draining) {
    return refuse(req, res, 'shutting_down', protocol.fail(undefined, 503, 'shutting down, retry on another gateway', RETRY_AFTER));
  }
  if (state.stalled) {
    // Queued behind a commit the disk does not finish, the request would wait as long as
    // the disk does; refused now, the client retries later or on another gateway.
    return refuse(req, res, 'disk_stalled', protocol.fail(undefined, 503, 'the disk has not finished a commit within --disk-stall-timeout: not stored, retry later or on another gateway', RETRY_AFTER));
  }

  // Who writes, before any protocol looks at the request: one place for every endpoint.
  // In tokens mode the tenant id is the record key, whatever begin() makes of the request.
  const query = queryOf(rawUrl, q);
  const who = auth.identify(req, query);
  if (isRefusal(who)) {
    return refuse(req, res, 'unauthorized', protocol.fail(undefined, who.status, who.message, { 'www-authenticate': WWW_AUTHENTICATE }));
  }
  const write = { who, samples: 0, bytes: 0 };
  if (who.slot >= 0) res.tenantWrite = write;

  let ctx: RequestContext;
  try {
    ctx = protocol.begin(req, query);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    return refuse(req, res, e.reason, protocol.fail(undefined, e.status, e.message, e.headers));
  }
  if (who.key !== undefined) ctx.key = who.key;
  // A tenant already past its limit is refused before its body is read or decoded (after
  // begin(), so the answer comes in the request's encoding, e.g. OTLP protobuf).
  const wait = auth.blocked(who);
  if (wait > 0) return refuse(req, res, 'throttled', protocol.fail(ctx, 429, 'tenant over its rate limit, retry later', { 'retry-after': retryAfterSeconds(wait) }));
  const declaredHeader = req.headers['content-length'];
  const declared = declaredHeader === undefined ? 0 : Number(declaredHeader);
  if (declared > config.maxBody) {
    return refuse(req, res, 'too_large', protocol.fail(ctx, 413, `body of ${declaredHeader} bytes exceeds --max-body ${config.maxBody}`));
  }
  const encoding = ctx.rawBody ? 'identity' : parseContentEncoding(req.headers['content-encoding']);
  if (encoding === undefined) {
    return refuse(
      req,
      res,
      'unsupported_media_type',
      protocol.fail(ctx, 415, `Content-Encoding ${JSON.stringify(req.headers['content-encoding'])} is not supported (use one of ${SUPPORTED_ENCODINGS.join(', ')})`),
    );
  }
  const transfer = req.headers['transfer-encoding'];
  if (transfer !== undefined && !chunkedOnly(transfer)) {
    return refuse(
      req,
      res,
      'unsupported_media_type',
      protocol.fail(ctx, 501, `Transfer-Encoding ${JSON.stringify(transfer)} is not supported: send the body chunked or with a Content-Length, compressed with Content-Encoding`),
    );
  }
  if (!reservation.growTo(declared)) {
    return refuse(req, res, 'overloaded', protocol.fail(ctx, 503, 'this gateway holds too many request bytes in flight, retry later', RETRY_AFTER));
  }
  // Only now invite the body (Expect: 100-continue): its declared size fits every limit.
  if (expectContinue) res.writeContinue();

  const reader = new BodyReader(req, encoding, { maxBody: config.maxBody, maxDecoded: config.maxDecodedBody }, reservation);
  receiving.set(reader, Date.now());
  let body: Buffer;
  try {
    body = await reader.done;
  } catch (e) {
    if (!(e instanceof BodyError)) throw e;
    droppedBuffers.refused(reader.bytesMade);
    return refuse(req, res, e.reason, protocol.fail(ctx, e.status, e.message, e.status === 503 ? RETRY_AFTER : undefined));
  } finally {
    receiving.delete(reader);
  }

  let decoded;
  try {
    decoded = protocol.decode(body, ctx);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    metrics.reject(e.reason);
    droppedBuffers.refused(reader.bytesMade);
    return send(res, protocol.fail(ctx, e.status, e.message, e.headers));
  }
  // The body is released; what this request still holds is its record until answered.
  reservation.shrinkTo(decoded.value.length);
  // The tenant's rate: its samples, and the bytes it will cost the sink.
  write.samples = decoded.count;
  write.bytes = decoded.value.length;
  const waitMs = auth.take(who, decoded.count, decoded.value.length);
  if (waitMs > 0) {
    metrics.reject('throttled');
    return send(res, protocol.fail(ctx, 429, 'tenant over its rate limit, retry later', { 'retry-after': retryAfterSeconds(waitMs) }));
  }
  if (draining || state.draining) {
    metrics.reject('shutting_down');
    return send(res, protocol.fail(ctx, 503, 'shutting down, retry on another gateway', RETRY_AFTER));
  }
  const key = ctx.key;
  const length = payloadLength(key.length, decoded.value.length);
  if (length > ring.maxPayload || key.length + decoded.value.length > config.maxRecordValue) {
    metrics.reject('too_large');
    return send(res, protocol.fail(ctx, 413, `record of ${key.length + decoded.value.length} bytes (key and value) exceeds the largest record the gateway stores (${Math.min(ring.maxPayload - payloadLength(0, 0), config.maxRecordValue)} bytes)`));
  }
  const partition = partitionFor(key, config.partitions);
  if (decoded.count === 0 && decoded.value.length === 0) {
    // Nothing to store (protocol.ts, DecodedRequest): acknowledged without a record.
    return send(res, protocol.ok(ctx, { kind: 'durable', count: 0, partition, offset: -1 }));
  }
  const index = ring.tryClaim(decoded.contentType, length);
  if (index === FULL) {
    metrics.reject('ring_full');
    return send(res, protocol.fail(ctx, 503, 'ingest ring full, retry later', RETRY_AFTER));
  }
  writePayload(ring.bytes, view, index, Date.now(), partition, key, decoded.value);
  const count = decoded.count;
  metrics.accepted(count);
  if (config.acks === 0) {
    ring.commit();
    return send(res, protocol.ok(ctx, { kind: 'queued', count, partition }));
  }
  const outcome = await new Promise<Outcome | number>((resolve) =>
    ring.commit((status, p, offset) => {
      if (status === DURABLE_OK) resolve({ kind: 'durable', count, partition: p, offset });
      else if (status === SENT_UNACKNOWLEDGED) resolve({ kind: 'sent', count, partition: p });
      else if (status === DURABLE_SPILLED) resolve({ kind: 'spilled', count, partition: p });
      else resolve(status);
    }),
  );
  if (typeof outcome !== 'number') return send(res, protocol.ok(ctx, outcome));
  // 504: sent, no answer; it may be stored (a retry may store it twice). 503: not stored.
  if (outcome === DURABLE_UNKNOWN) {
    metrics.reject('sink_unknown');
    return send(res, protocol.fail(ctx, 504, UNKNOWN_MESSAGE));
  }
  if (outcome === DURABLE_REFUSED) {
    metrics.reject('too_large');
    return send(res, protocol.fail(ctx, 413, 'the record is larger than the sink accepts (Kafka: --kafka-request-bytes); it was not stored'));
  }
  metrics.reject('sink_failed');
  send(res, protocol.fail(ctx, 503, 'the sink could not make the record durable: it was not stored, retry later', RETRY_AFTER));
}

function health(req: IncomingMessage, res: GatewayResponse, path: string): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return refuse(req, res, 'method_not_allowed', jsonError(405, `use GET ${path}`, { allow: 'GET, HEAD' }));
  }
  const json = { 'content-type': 'application/json' };
  if (path === '/healthz') return send(res, { status: 200, headers: json, body: '{"status":"ok"}' });
  if (state.draining) return send(res, { status: 503, headers: json, body: '{"ready":false,"reason":"shutting down"}' });
  if (state.stalled) return send(res, { status: 503, headers: json, body: '{"ready":false,"reason":"disk stalled"}' });
  if (!state.ready) return send(res, { status: 503, headers: json, body: '{"ready":false,"reason":"sink not ready"}' });
  send(res, { status: 200, headers: json, body: '{"ready":true}' });
}

/** A response's 'close' (answered, or its connection gone): what the request held is free. */
function onResponseClosed(this: GatewayResponse): void {
  this.reservation?.release();
  requestClosed(this.req.socket);
  openRequests--;
  requestsServed++;
  if (draining) maybeDrained();
}

const serverOptions: ServerOptions<typeof IncomingMessage, typeof GatewayResponse> = {
  ServerResponse: GatewayResponse,
  requestTimeout: 0,
  headersTimeout: config.bodyTimeoutMs,
  keepAliveTimeout: 5000,
  // How often Node checks headersTimeout (default 30 s): idle and trickling
  // connections are cut close to --body-timeout, not up to 30 s later.
  connectionsCheckingInterval: CHECK_INTERVAL_MS,
  // Answered by handle(), in the gateway's words.
  requireHostHeader: false,
};
// HTTPS runs the same handler; only the listening socket differs.
const tls = config.auth.tls;
const server =
  tls === undefined
    ? http.createServer(serverOptions, (req, res) => onRequest(req, res))
    : process.getBuiltinModule('node:https').createServer(
        // A handshake gets the time a request's headers get (Node's default is 120 s).
        { ...serverOptions, handshakeTimeout: config.bodyTimeoutMs, ...secureContextOptions(tls) },
        (req, res) => onRequest(req, res),
      );
// Expect: 100-continue goes through the same loop, which sends 100 Continue only once
// the declared size passed every limit (a too-large body gets its 413 uninvited).
server.on('checkContinue', (req: IncomingMessage, res: GatewayResponse) => onRequest(req, res, true));
// Any other expectation is ignored, as RFC 9110 (10.1.1) allows: the request is served as
// if it had none (Node would answer 417 itself, without a JSON body or a count).
server.on('checkExpectation', (req: IncomingMessage, res: GatewayResponse) => onRequest(req, res));

// With TLS a connection counts toward the cap from its TCP accept (it holds a descriptor),
// but a 503 can only be written through TLS and requests arrive on the TLS socket: one over
// the cap during its handshake is destroyed; a connection becomes open once it is done.
// Not counted, idle connections that never sent a ClientHello were each held for Node's
// 120 s handshake timeout, as many as the descriptor limit allowed.
if (tls !== undefined) {
  server.on('connection', (raw: Socket) => {
    const admission = connections.handshakeStarted(raw, Date.now());
    if (admission === 'admitted') return;
    metrics.reject('too_many_connections');
    if (admission === 'made_room') warn('evicted_idle_connection', `at --max-connections ${config.maxConnections}: closing the oldest connection that has not finished its TLS handshake to make room`);
    else warn('too_many_connections', `over --max-connections ${config.maxConnections}: new connections are closed before their TLS handshake`);
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') metrics.reject('slow_handshake');
  });
}

server.on(tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
  const admission = connections.opened(socket, Date.now());
  if (admission === 'admitted') return;
  metrics.reject('too_many_connections');
  metrics.response(503, 0);
  if (admission === 'made_room') warn('evicted_idle_connection', `at --max-connections ${config.maxConnections}: closing the oldest connection that sent no request to make room`);
  else warn('too_many_connections', `over --max-connections ${config.maxConnections}: new connections get 503 and are closed`);
});

server.on('connect', (_req: IncomingMessage, socket: Socket) => {
  metrics.reject('method_not_allowed');
  if (answerConnect(socket, 'GET, HEAD, POST')) metrics.response(405, 0);
});

server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
  const status = answerClientError(err, socket, config.bodyTimeoutMs);
  if (status === undefined) return;
  metrics.reject(status === 408 ? 'slow_body' : 'bad_body');
  metrics.response(status, status === 408 ? config.bodyTimeoutMs / 1000 : 0);
});

// Slow bodies and slow readers: one sweep a second instead of a timer per request or
// answer. The same tick gives the heap back once the worker has fallen quiet after a
// burst (settle-heap.ts).
const idleRelease = new IdleHeapRelease(config.heapReleaseAfterMs, Date.now());
const sweeper = setInterval(() => {
  const now = Date.now();
  ring.heartbeat(now);
  if (idleRelease.due(requestsServed, now) && releaseWorkerHeap()) metrics.heapReleased();
  for (const [reader, started] of receiving) {
    if (now - started > config.bodyTimeoutMs) {
      receiving.delete(reader);
      reader.abort(
        reader.phase === 'decoding'
          ? new BodyError(503, 'overloaded', `request body received but not decoded within ${config.bodyTimeoutMs} ms: this gateway's thread pool is busy, retry later`)
          : new BodyError(408, 'slow_body', `request body not received within ${config.bodyTimeoutMs} ms`),
      );
    }
  }
  for (const socket of connections.open) {
    if (!readsTooSlowly(socket, now, config.bodyTimeoutMs)) continue;
    metrics.reject('slow_reader');
    warn('slow_reader', `reset a connection whose answers were not read within --body-timeout (${config.bodyTimeoutMs} ms)`);
    cutSlowReader(socket);
  }
}, CHECK_INTERVAL_MS);
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
  if (message.table !== undefined) auth.setTable(message.table);
  if (message.tls !== undefined && tls !== undefined) (server as https.Server).setSecureContext(secureContextOptions(message.tls));
  parentPort!.postMessage({ type: 'auth-applied', workerId: config.workerId, generation: message.generation } satisfies WorkerMessage);
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
  // Before the supervisor hears of it: a gateway that says it listens is also settled.
  settleWorkerHeap();
  parentPort!.postMessage({ type: 'listening', workerId: config.workerId, port } satisfies WorkerMessage);
});
