/**
 * No-op baseline server: the end-to-end benchmark's ceiling. Same worker layout as the
 * gateway (N worker_threads, each its own http server on one port with reusePort) but
 * every POST is answered 200 {"accepted":1,"partition":0,"offset":0} with no work.
 *
 *   node --import ./src/main/require-node.mjs bench/noop-server.ts --workers N --port P [--host H]
 *
 * With --net each worker answers from a plain `node:net` server that reads requests by
 * their Content-Length and writes one prebuilt answer: no `node:http` (no llhttp callbacks,
 * IncomingMessage, ServerResponse, streams). Not an HTTP server (no chunked bodies, no
 * header limits, no timeouts): the measuring stick for what Node's HTTP layer costs
 * (bench:e2e's `noop-net` row).
 *
 * Prints `listening on http://host:port workers=N` once every worker listens. With
 * --port 0 the first worker picks a free port and the others join it (port 0 on each
 * worker would give each its own port). SIGTERM/SIGINT close the servers, exit 0.
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { NoopWorkerData, NoopWorkerMessage } from './noop-worker.ts';

const USAGE = 'Usage: bench/noop-server.ts --workers N --port P [--host 127.0.0.1] [--net]';

function parse(): { workers: number; port: number; host: string; net: boolean } {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '1' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      net: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const workers = Number(values.workers);
  const port = Number(values.port);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers must be a positive integer`);
  if (values.port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be 0..65535`);
  }
  return { workers, port, host: values.host, net: values.net };
}

/** Starts one worker and resolves with the port it listens on; rejects if it dies first. */
async function startWorker(host: string, port: number, net: boolean, workers: Worker[]): Promise<number> {
  const worker = new Worker(new URL('./noop-worker.ts', import.meta.url), {
    workerData: { host, port, net } satisfies NoopWorkerData,
  });
  workers.push(worker);
  // Without a listener a worker's error (EADDRINUSE, a crash) would crash this thread
  // instead of being reported; the 'exit' that follows is handled by the callers.
  worker.on('error', (err) => process.stderr.write(`noop-server: worker error: ${err.message}\n`));
  const listening = once(worker, 'message') as Promise<[NoopWorkerMessage]>;
  const died = once(worker, 'exit').then(([code]) => {
    throw new Error(`worker exited with code ${code} before listening`);
  });
  const [msg] = await Promise.race([listening, died]);
  died.catch(() => {});
  return msg.port;
}

/** Asks every worker to close, waits for them (terminating stragglers after 2 s). */
async function stopAll(workers: Worker[]): Promise<void> {
  await Promise.all(
    workers.map(async (worker) => {
      const exited = once(worker, 'exit');
      worker.postMessage('close');
      const timer = setTimeout(() => void worker.terminate(), 2000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

async function main(): Promise<void> {
  let args;
  try {
    args = parse();
  } catch (err) {
    process.stderr.write(`noop-server: ${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const workers: Worker[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await stopAll(workers);
    process.exit(code);
  };
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0));

  try {
    // The first worker fixes the port (resolving 0); the rest join it in parallel.
    const port = await startWorker(args.host, args.port, args.net, workers);
    const rest: Promise<number>[] = [];
    for (let i = 1; i < args.workers; i++) rest.push(startWorker(args.host, port, args.net, workers));
    await Promise.all(rest);
    for (const worker of workers) {
      // A worker dying after startup leaves the benchmark measuring fewer workers than
      // it claims; stop rather than carry on quietly.
      worker.once('exit', (code) => {
        if (stopping) return;
        process.stderr.write(`noop-server: a worker exited with code ${code}\n`);
        void stop(1);
      });
    }
    const shownHost = args.host.includes(':') ? `[${args.host}]` : args.host;
    process.stdout.write(`listening on http://${shownHost}:${port} workers=${args.workers}\n`);
  } catch (err) {
    process.stderr.write(`noop-server: ${(err as Error).message}\n`);
    await stop(1);
  }
}

await main();
