/**
 * The admin port: GET /metrics for Prometheus, served by the thread that owns the
 * registry (the gateway's owner thread, or a consumer's main thread).
 *
 * That thread's time belongs to draining the rings, and its descriptors are the process's:
 * with Node's defaults, 19,990 connections that sent nothing held every descriptor the
 * gateway had (ulimit 20,000), and its data port refused every client until they left
 * (bench/ISSUE-15.md, twenty-sixth round). Operators expose this port to their scrapers
 * (--admin-host), so it gets the data port's bounds, sized for scrapers:
 * - ADMIN_MAX_CONNECTIONS open connections; over it a newcomer replaces one that has
 *   sent no request (connection-cap.ts), or else gets 503;
 * - a request whole within --body-timeout (Node's headers and request timeouts);
 * - HTTP pipelining bounded as on the data port (pipelining.ts), and clients that do not
 *   read their answers reset after --body-timeout (slow-readers.ts);
 * - no request body: one is refused unread, with the connection closed, so a client
 *   cannot make this thread read its bytes.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { answerClientError, answerConnect, checkIntervalMs, ConnectionCap } from '../http/connection-cap.ts';
import { OncePerSecond } from '../http/once-a-second.ts';
import { ignoredTooMany, MAX_PIPELINED, requestArrived, requestClosed } from '../http/pipelining.ts';
import { cutSlowReader, readsTooSlowly } from '../http/slow-readers.ts';

/** Scrapes within this long of a collection get that collection's text. */
export const COLLECT_INTERVAL_MS = 1000;

/**
 * Open connections the admin port keeps. Scrapers are few (a Prometheus pair, an agent,
 * an operator's curl) and each keeps one connection alive.
 */
export const ADMIN_MAX_CONNECTIONS = 64;

export interface AdminServerOptions {
  host: string;
  port: number;
  /** Time a request gets to arrive whole, and answers to be read (the gateway's --body-timeout). */
  bodyTimeoutMs?: number;
  /** Where refused connections are reported, at most once a second per kind. */
  logger?: Logger;
}

export interface AdminServer {
  port: number;
  /** Stops listening and closes every connection, a scrape in flight included. */
  close(): Promise<void>;
}

type AdminRejectReason = 'too_many_connections' | 'pipelined' | 'slow_reader' | 'slow_request' | 'bad_request' | 'method_not_allowed' | 'not_found';

/**
 * Serves GET /metrics on `host:port`; resolves once listening.
 *
 * Collection runs on the owner thread, whose time belongs to draining the rings: at most
 * one collection per COLLECT_INTERVAL_MS, whatever the number of scrapers. Scrapes in
 * between get the cached text (and concurrent scrapes share one collection), so a scrape
 * flood costs the owner one collection a second plus writing cached bytes.
 */
export async function startAdminServer(registry: Registry, options: AdminServerOptions): Promise<AdminServer> {
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
  const interval = checkIntervalMs(bodyTimeoutMs);
  let cached: { at: number; body: string } | undefined;
  let collecting: Promise<string> | undefined;
  const collectionsTotal = new Counter({
    name: 'metricstream_admin_collections_total',
    help: `Collections of these metrics (at most one per ${COLLECT_INTERVAL_MS} ms; scrapes in between are served from the last one).`,
    registers: [registry],
  });
  const rejectedTotal = new Counter({
    name: 'metricstream_admin_rejected_total',
    help: 'Connections and requests the admin port refused, by reason (too_many_connections, pipelined, slow_reader, slow_request, bad_request, method_not_allowed, not_found).',
    labelNames: ['reason'],
    registers: [registry],
  });
  const warnings = new OncePerSecond();
  const reject = (reason: AdminRejectReason, message: string): void => {
    rejectedTotal.inc({ reason });
    const count = warnings.due(reason);
    if (count !== undefined) options.logger?.warn({ what: `admin_${reason}`, count }, `admin port: ${message}`);
  };
  const collect = (): Promise<string> => {
    if (cached !== undefined && performance.now() - cached.at < COLLECT_INTERVAL_MS) return Promise.resolve(cached.body);
    if (collecting !== undefined) return collecting;
    collectionsTotal.inc();
    collecting = registry
      .metrics()
      .then((body) => {
        cached = { at: performance.now(), body };
        return body;
      })
      .finally(() => (collecting = undefined));
    return collecting;
  };

  const connections = new ConnectionCap(ADMIN_MAX_CONNECTIONS, interval, {
    full: `the admin port has ${ADMIN_MAX_CONNECTIONS} connections open, retry later`,
    madeRoom: 'closed to make room: no request yet while the admin port is at its connection limit',
  });

  const answer = (res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}, close = false): void => {
    if (close) {
      connections.lastAnswerGiven(res.req.socket);
      headers.connection = 'close';
    }
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };
  const error = (message: string): string => JSON.stringify({ error: message });

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const socket = req.socket;
    if (connections.isClosing(socket)) {
      // Parsed after the connection's last answer: neither answered nor kept for long.
      if (!socket.destroyed && ignoredTooMany(socket)) socket.destroy();
      return;
    }
    connections.requested(socket);
    const inFlight = requestArrived(socket);
    res.once('close', () => requestClosed(socket));
    if (inFlight > MAX_PIPELINED) {
      reject('pipelined', `refused a request with ${MAX_PIPELINED} others in flight on its connection (HTTP pipelining)`);
      return answer(res, 503, error(`${MAX_PIPELINED} requests were in flight on this connection (HTTP pipelining); the connection is closed`), { 'retry-after': '1' }, true);
    }
    if (req.headers.host === undefined && req.httpVersion === '1.1') {
      reject('bad_request', 'refused an HTTP/1.1 request without a Host header');
      return answer(res, 400, error('an HTTP/1.1 request needs a Host header'), {}, true);
    }
    if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')) {
      reject('bad_request', 'refused a request with a body');
      return answer(res, 400, error('the admin port takes no request body (GET /metrics)'), {}, true);
    }
    const url = req.url ?? '/';
    const path = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
    if (path !== '/metrics') {
      reject('not_found', `no route for ${path}`);
      return answer(res, 404, error('the admin port serves GET /metrics'));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reject('method_not_allowed', `refused ${req.method} /metrics`);
      return answer(res, 405, error('use GET /metrics'), { allow: 'GET, HEAD' });
    }
    let body: string;
    try {
      body = await collect();
    } catch (e) {
      return answer(res, 500, error(`metrics collection failed: ${(e as Error).message}`));
    }
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(body);
  };
  const server = http.createServer(
    {
      headersTimeout: bodyTimeoutMs,
      requestTimeout: bodyTimeoutMs,
      keepAliveTimeout: 5000,
      // Node checks both timeouts every 30 s by default: idle connections would live 30 s past them.
      connectionsCheckingInterval: interval,
      // Answered by onRequest, in this port's words (Node's own 400 has no body).
      requireHostHeader: false,
    },
    onRequest,
  );
  // Without a listener Node answers `Expect: 100-continue` itself, inviting the body this
  // port refuses: the request goes to the same handler, which answers before any body.
  server.on('checkContinue', onRequest);
  // Any other expectation is ignored (RFC 9110, 10.1.1), as on the data port.
  server.on('checkExpectation', onRequest);

  server.on('connection', (socket: Socket) => {
    const admission = connections.opened(socket, Date.now());
    if (admission === 'made_room') reject('too_many_connections', `at ${ADMIN_MAX_CONNECTIONS} connections: closed the oldest that sent no request to make room`);
    else if (admission === 'refused') reject('too_many_connections', `over ${ADMIN_MAX_CONNECTIONS} connections: a new connection got 503`);
  });

  server.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
    answerConnect(socket, 'GET, HEAD');
    reject('method_not_allowed', 'refused CONNECT (the admin port is not a proxy)');
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const status = answerClientError(err, socket, bodyTimeoutMs);
    if (status === 408) reject('slow_request', `closed a connection whose request did not arrive within ${bodyTimeoutMs} ms`);
    else if (status !== undefined) reject('bad_request', `malformed HTTP request (${err.code ?? 'parse error'})`);
  });

  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const socket of connections.open) {
      if (!readsTooSlowly(socket, now, bodyTimeoutMs)) continue;
      reject('slow_reader', `reset a connection whose answers were not read within ${bodyTimeoutMs} ms`);
      cutSlowReader(socket);
    }
  }, interval);
  sweeper.unref();

  try {
    await new Promise<void>((resolve, fail) => {
      server.once('error', fail);
      server.listen({ host: options.host, port: options.port }, resolve);
    });
  } catch (e) {
    clearInterval(sweeper);
    throw e;
  }
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweeper);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
