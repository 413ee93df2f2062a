/**
 * Starts the gateway the way `npm start` does (a separate process running
 * src/main/cli.ts on the project's Node), for integration tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { GATEWAY_NODE_FLAGS } from '../../src/main/node-flags.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface GatewayProcess {
  port: number;
  proc: ChildProcess;
  /** Every log line (parsed pino JSON) the gateway printed so far. */
  logs: Record<string, unknown>[];
  stderr: string[];
  /**
   * Resolves with the exit code (or signal name) once the process has ended and all it wrote
   * is in `logs` and `stderr` ('close', not 'exit': 'exit' can come before the pipes are
   * drained, and a line written just before exiting would then be missing).
   */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** The admin port a gateway started with `--admin-port 0` named in its listening line. */
export function adminPortOf(g: GatewayProcess): number {
  return g.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('listening on'))!.adminPort as number;
}

export function tempDir(prefix = 'metricstream-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * Runs `node <the gateway's node flags> --import require-node.mjs <script> ...args` from the
 * project root, as `npm start` and the bin scripts start the gateway and the consumer.
 */
export function spawnNode(script: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const node = [process.execPath, ...GATEWAY_NODE_FLAGS, '--import', './src/main/require-node.mjs', script, ...args];
  // util-linux's prlimit sets the limit and then execs node: the pid is node's.
  const command = options.descriptorLimit === undefined ? node : ['prlimit', `--nofile=${options.descriptorLimit}`, ...node];
  return spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface SpawnOptions {
  /** The process's limit on open descriptors (`ulimit -n`), soft and hard. */
  descriptorLimit?: number;
}

/** Starts a gateway on a free port and resolves once it printed its listening line. */
export async function startGateway(args: string[], options: SpawnOptions = {}): Promise<GatewayProcess> {
  const proc = spawnNode('src/main/cli.ts', ['--port', '0', '--host', '127.0.0.1', '--admin-port', 'off', ...args], options);
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | string>((resolve) => proc.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  readline.createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const port = await new Promise<number>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        entry = { msg: line };
      }
      logs.push(entry);
      if (typeof entry.msg === 'string' && entry.msg.includes('listening on')) resolve(entry.port as number);
    });
    void exited.then((code) => reject(new Error(`gateway exited (${code}) before listening: ${stderr.join('\n')} ${JSON.stringify(logs)}`)));
  });
  return {
    port,
    proc,
    logs,
    stderr,
    exited,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      proc.kill(signal);
      return exited;
    },
  };
}

/**
 * startGateway with the test-only hooks on (METRICSTREAM_TEST_HOOKS=1, src/workers/http-worker.ts:
 * POST /__test/crash, /__test/leak, /__test/block).
 */
export async function startGatewayWithTestHooks(args: string[]): Promise<GatewayProcess> {
  process.env.METRICSTREAM_TEST_HOOKS = '1';
  try {
    return await startGateway(args);
  } finally {
    delete process.env.METRICSTREAM_TEST_HOOKS;
  }
}

export interface ConsumedLine {
  partition: number;
  offset: number;
  key: string;
  timestamp: number;
  value: { metrics: { name: string; value: number; timestamp?: number; tags?: Record<string, string> }[] };
}

/** Reads the whole log with the plain consumer CLI (`npm run consume`). */
export async function consumeAll(dataDir: string): Promise<ConsumedLine[]> {
  const proc = spawnNode('src/consumer/cli.ts', ['--data-dir', dataDir, '--from-beginning', '--exit-at-end']);
  const lines: ConsumedLine[] = [];
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(JSON.parse(l)));
  const code = await new Promise<number | null>((resolve) => proc.once('close', resolve));
  if (code !== 0) throw new Error(`consume exited ${code}: ${err}`);
  return lines;
}

/** POSTs a JSON metrics body; resolves with status and parsed JSON answer. */
export async function postMetrics(
  port: number,
  clientId: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(clientId !== undefined ? { authorization: clientId } : {}), ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
