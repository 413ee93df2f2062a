/**
 * One worker thread of the no-op baseline server: its own server on the shared port
 * (SO_REUSEPORT, so the kernel spreads connections over the workers), reading each
 * request body fully and answering the gateway's success shape with no other work.
 * Started by bench/noop-server.ts; talks to it through parentPort messages.
 *
 * Two servers: `node:http` (the `noop` row, the ceiling the gateway is measured against)
 * and, with `net`, a plain `node:net` reader of Content-Length requests (the `noop-net`
 * row: what the same no-op costs without Node's HTTP layer).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

/** workerData the main thread passes. */
export interface NoopWorkerData {
  host: string;
  port: number;
  /** A `node:net` server instead of `node:http`. */
  net: boolean;
}

/** Messages a worker posts to the main thread. */
export type NoopWorkerMessage = { type: 'listening'; port: number };

const BODY = Buffer.from('{"accepted":1,"partition":0,"offset":0}');
const HEADERS = { 'content-type': 'application/json', 'content-length': String(BODY.length) };

function handle(req: IncomingMessage, res: ServerResponse): void {
  // Consume the body as the gateway must, so the baseline pays the same read cost.
  req.on('data', discard);
  req.on('end', () => {
    res.writeHead(200, HEADERS);
    res.end(BODY);
  });
}

function discard(): void {}

const ANSWER = Buffer.concat([
  Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${BODY.length}\r\nconnection: keep-alive\r\n\r\n`),
  BODY,
]);
const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

/**
 * One connection of the `net` server: finds each request's head, skips its Content-Length
 * bytes of body and writes the prebuilt answer. A head without the header has no body;
 * anything else the load generators do not send (chunked bodies) is not handled.
 */
const netSockets = new Set<net.Socket>();

function serveNet(socket: net.Socket): void {
  let pending: Buffer | null = null;
  let requestEnd = -1;
  netSockets.add(socket);
  socket.setNoDelay(true);
  socket.on('error', discard);
  socket.on('close', () => netSockets.delete(socket));
  socket.on('data', (chunk: Buffer) => {
    let buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (requestEnd < 0) {
        const headEnd = buf.indexOf(HEAD_END);
        if (headEnd < 0) break;
        const length = CONTENT_LENGTH.exec(buf.toString('latin1', 0, headEnd));
        requestEnd = headEnd + HEAD_END.length + (length ? Number(length[1]) : 0);
      }
      if (buf.length < requestEnd) break;
      socket.write(ANSWER);
      buf = buf.subarray(requestEnd);
      requestEnd = -1;
    }
    pending = buf.length > 0 ? buf : null;
  });
}

const { host, port, net: plainNet } = workerData as NoopWorkerData;
const port0 = parentPort!;
const httpServer = plainNet ? undefined : createServer(handle);
// Benchmark clients hold connections open; Node's 5 s default would close idle ones
// between phases of a benchmark and count reconnects against the server.
if (httpServer) httpServer.keepAliveTimeout = 60_000;
const server = httpServer ?? net.createServer(serveNet);
server.listen({ host, port, reusePort: true }, () => {
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  port0.postMessage({ type: 'listening', port: bound } satisfies NoopWorkerMessage);
});

// 'close' from the main thread: stop accepting, drop keep-alive connections, and let
// the thread end once nothing is left on its event loop.
port0.on('message', (msg: unknown) => {
  if (msg === 'close') {
    server.close();
    httpServer?.closeAllConnections();
    for (const socket of netSockets) socket.destroy();
    port0.close();
  }
});
