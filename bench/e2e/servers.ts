/**
 * The servers the end-to-end benchmark compares, each started as its own process the way
 * a user would start it, and its CPU time read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** What a row needs from its environment (a broker for Kafka rows). */
export interface RowContext {
  workers: number;
  brokers?: string;
  topic: string;
}

export interface Row {
  name: string;
  /** Script (relative to the project root) and its arguments; port 0 picks a free port. */
  command(ctx: RowContext, dataDir: string): string[];
  needsBroker?: boolean;
}

export interface RunningServer {
  port: number;
  proc: ChildProcess;
  dataDir: string;
  /** CPU seconds (user + system, all threads, child processes included) used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux we run on. */
const CLK_TCK = 100;

/** utime + stime (s) and parent pid of one process, or undefined if it is gone. */
function statOf(pid: number): { cpu: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** CPU seconds of `pid` and every live descendant (node:cluster workers are processes). */
function cpuSecondsOf(pid: number): number {
  const children = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = statOf(Number(entry));
    if (stat === undefined) continue;
    cpu.set(Number(entry), stat.cpu);
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  let total = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    total += cpu.get(p) ?? 0;
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

/**
 * Starts `row` and resolves once it printed a line containing "listening on" with the port
 * (pino JSON with a `port` field, or plain text `http://host:port`).
 */
export async function startServer(row: Row, ctx: RowContext): Promise<RunningServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `bench-${row.name}-`));
  const [script, ...args] = row.command(ctx, dataDir);
  const proc = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', '--import', './src/main/require-node.mjs', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (!line.includes('listening on')) return;
      const m = /"port":(\d+)/.exec(line) ?? /:(\d+)\b/.exec(line.slice(line.indexOf('listening on')));
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`${row.name} exited (${code}) before listening: ${stderr}`)));
  });
  return {
    port,
    proc,
    dataDir,
    cpuSeconds: () => cpuSecondsOf(proc.pid!),
    async stop() {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const gateway = (extra: (ctx: RowContext) => string[]) => (ctx: RowContext, dataDir: string) => [
  'src/main/cli.ts',
  '--port', '0', '--host', '127.0.0.1', '--admin-port', 'off', '--log-level', 'warn',
  '--workers', String(ctx.workers), '--data-dir', dataDir, ...extra(ctx),
];

const kafka = (acks: string) => (ctx: RowContext) => ['--mode', 'kafka', '--brokers', ctx.brokers!, '--topic', ctx.topic, '--acks', acks];

/** Every row the benchmark knows, in table order. */
export const ROWS: Row[] = [
  {
    name: 'noop',
    command: (ctx) => ['bench/noop-server.ts', '--workers', String(ctx.workers), '--port', '0', '--host', '127.0.0.1'],
  },
  { name: 'file-acks0', command: gateway(() => ['--acks', '0']) },
  { name: 'file-acks1', command: gateway(() => ['--acks', '1']) },
  { name: 'kafka-acks1', command: gateway(kafka('1')), needsBroker: true },
  { name: 'kafka-acksall', command: gateway(kafka('all')), needsBroker: true },
  {
    name: 'peer-kafkajs',
    command: (ctx) => ['bench/peers/kafkajs-per-request.ts', '--port', '0', '--brokers', ctx.brokers!, '--topic', ctx.topic, '--acks', 'all'],
    needsBroker: true,
  },
  {
    name: 'peer-cluster',
    command: (ctx) => ['bench/peers/kafkajs-per-request.ts', '--port', '0', '--brokers', ctx.brokers!, '--topic', ctx.topic, '--acks', 'all', '--cluster', String(ctx.workers)],
    needsBroker: true,
  },
];
