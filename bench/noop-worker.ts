/**
 * One worker thread of the no-op baseline server: its own http server on the shared
 * port (SO_REUSEPORT, so the kernel spreads connections over the workers), reading each
 * request body fully and answering the gateway's success shape with no other work.
 * Started by bench/noop-server.ts; talks to it through parentPort messages.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

/** workerData the main thread passes. */
export interface NoopWorkerData {
  host: string;
  port: number;
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

const { host, port } = workerData as NoopWorkerData;
const port0 = parentPort!;
const server = createServer(handle);
// Benchmark clients hold connections open; Node's 5 s default would close idle ones
// between phases of a benchmark and count reconnects against the server.
server.keepAliveTimeout = 60_000;
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
    server.closeAllConnections();
    port0.close();
  }
});
