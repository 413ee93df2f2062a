/**
 * The servers the end-to-end benchmark compares, each started as its own process the way
 * a user would start it, and its CPU time read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { gzipped, influxBody, otlpBody, remoteWriteBody, type ProtocolLoad } from './protocol-bodies.ts';

import { UsageError } from '../../src/cli/args.ts';
import type { LoadOptions } from '../../src/load/run-load.ts';
import { GATEWAY_NODE_FLAGS } from '../../src/main/node-flags.ts';
import { benchAuthorization, securityFixture } from './security-fixture.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** What a row needs from its environment (a broker for Kafka rows). */
export interface RowContext {
  workers: number;
  /** The local mock cluster behind the proxy, answering in about 0.1 ms. */
  brokers?: string;
  /** Another local mock cluster whose proxy (its own process) adds 1 ms each way. */
  slowBrokers?: string;
  /** CPU seconds used so far by that cluster's processes (the proxy and the mock). */
  slowBrokerCpuSeconds?: () => number;
  topic: string;
}

export interface Row {
  name: string;
  /** Script (relative to the project root) and its arguments; port 0 picks a free port. */
  command(ctx: RowContext, dataDir: string): string[];
  needsBroker?: boolean;
  /** Runs against ctx.slowBrokers: the broker 1 ms away (1 ms each way, 2 ms round trip). */
  slowBroker?: boolean;
  /** Connections for this row when --connections is not given (default 20). */
  connections?: number;
  /** Load options this row needs (https, per-connection credentials). */
  loadOptions?(): Partial<LoadOptions>;
  /** Another protocol's body and path (default: the seed's POST /metrics JSON body). */
  load?: (k: number) => ProtocolLoad;
  /** Starts a server that is not a Node script of ours (a peer like vmagent). */
  start?: (ctx: RowContext) => Promise<RunningServer>;
  /** The checkout whose script this row runs (default this one; bench:e2e --base). */
  root?: string;
  /** Where its data dir is made (default os.tmpdir(), on the machine's disk). */
  dataRoot?: string;
}

/**
 * What a load of `row` at `k` metrics per request sends: its protocol's body and path (the
 * seed's POST /metrics JSON body when it has none) and the options it needs (https,
 * per-connection credentials). The caller adds the port, the connections and the duration.
 */
export function loadOptionsOf(row: Row, k: number): Partial<LoadOptions> {
  const body = row.load?.(k);
  const protocol = body === undefined ? {} : { path: body.path, rawBody: { bytes: body.bytes, contentType: body.contentType, headers: body.headers } };
  return { metricsPerRequest: k, ...protocol, ...(row.loadOptions?.() ?? {}) };
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
export function cpuSecondsOf(pid: number): number {
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
export async function startServer(row: Row, ctx: RowContext, nodeFlags: readonly string[] = []): Promise<RunningServer> {
  const dataDir = await mkdtemp(path.join(row.dataRoot ?? os.tmpdir(), `bench-${row.name}-`));
  const [script, ...args] = row.command(ctx, dataDir);
  // A gateway row runs with the gateway's node flags, as `npm start` does; the no-op and the peers with Node's defaults.
  const flags = isGatewayRow(row, ctx) ? [...GATEWAY_NODE_FLAGS, ...nodeFlags] : nodeFlags;
  const proc = spawn(process.execPath, [...flags, '--disable-warning=TimeoutNegativeWarning', '--import', './src/main/require-node.mjs', script, ...args], {
    cwd: row.root ?? ROOT,
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
  return runningServer(proc, port, dataDir);
}

/** SIGTERM to `proc`, SIGKILL if it has not exited after `graceMs`; resolves once it exited. */
export async function terminate(proc: ChildProcess, graceMs: number): Promise<void> {
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * A started server process: stop() sends SIGTERM (SIGKILL after 30 s), removes its data
 * dir, then runs `after` (a helper process of the row, for example).
 */
function runningServer(proc: ChildProcess, port: number, dataDir: string, after?: () => Promise<void>): RunningServer {
  return {
    port,
    proc,
    dataDir,
    cpuSeconds: () => cpuSecondsOf(proc.pid!),
    async stop() {
      await terminate(proc, 30_000);
      await rm(dataDir, { recursive: true, force: true });
      await after?.();
    },
  };
}

/** The gateway's entry point: what a row runs when it runs metricstream itself. */
export const GATEWAY_SCRIPT = 'src/main/cli.ts';

/**
 * The checkout `dir` (the value of --`flag`) as an absolute path, for the gateway rows to run
 * from (bench:e2e --base, bench:thread-cpu --root); UsageError when it holds no gateway.
 */
export function gatewayCheckout(flag: string, dir: string): string {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, GATEWAY_SCRIPT))) throw new UsageError(`--${flag}: ${root} has no ${GATEWAY_SCRIPT}`);
  return root;
}

/** Whether `row` runs our gateway (from GATEWAY_SCRIPT): the rows --base and --root run from another checkout. */
export function isGatewayRow(row: Row, ctx: RowContext): boolean {
  return row.start === undefined && row.command(ctx, '')[0] === GATEWAY_SCRIPT;
}

/** tmpfs on Linux: where the file-acks1-ram row keeps its log. */
const RAM_DIR = '/dev/shm';

const gateway = (extra: (ctx: RowContext) => string[]) => (ctx: RowContext, dataDir: string) => [
  GATEWAY_SCRIPT,
  '--port', '0', '--host', '127.0.0.1', '--admin-port', 'off', '--log-level', 'warn',
  '--workers', String(ctx.workers), '--data-dir', dataDir, ...extra(ctx),
];

const kafka = (acks: string) => (ctx: RowContext) => ['--mode', 'kafka', '--brokers', ctx.brokers!, '--topic', ctx.topic, '--acks', acks];

const peerKafkajs = (brokers: string, ctx: RowContext) => ['bench/peers/kafkajs-per-request.ts', '--port', '0', '--brokers', brokers, '--topic', ctx.topic, '--acks', 'all'];

/**
 * The Kafka goal's load: a broker 1 ms away (each way) and 200 connections, where one
 * producer request per HTTP request pays the round trip and batching should not.
 */
const SLOW_BROKER_CONNECTIONS = 200;

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The vmagent peer (Debian victoria-metrics): remote_write in on its own port, its
 * on-disk queue (-remoteWrite.tmpDataPath) in a temp dir, forwarding to a no-op server
 * (bench/noop-server.ts, one worker: the blackhole). vmagent answers 204 once a request
 * is in its in-memory buffer; the queue is written to disk in blocks, not per request.
 * CPU counted: vmagent's only (the blackhole is the "store").
 */
async function startVmagentPeer(ctx: RowContext): Promise<RunningServer> {
  const hole = await startServer({ name: 'blackhole', command: () => ['bench/noop-server.ts', '--workers', '1', '--port', '0', '--host', '127.0.0.1'] }, ctx);
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-vmagent-'));
  const proc = spawn(
    'vmagent',
    [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-remoteWrite.url=http://127.0.0.1:${hole.port}/api/v1/write`,
      `-remoteWrite.tmpDataPath=${dataDir}`,
      '-loggerLevel=ERROR',
      `-maxConcurrentInserts=${Math.max(ctx.workers * 4, 8)}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`vmagent exited (${proc.exitCode}): ${stderr}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`vmagent did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return runningServer(proc, port, dataDir, () => hole.stop());
}

/** Every row the benchmark knows, in table order. */
export const ROWS: Row[] = [
  {
    name: 'noop',
    command: (ctx) => ['bench/noop-server.ts', '--workers', String(ctx.workers), '--port', '0', '--host', '127.0.0.1'],
  },
  // The same no-op without Node's HTTP layer (a plain node:net reader of Content-Length
  // requests, bench/noop-worker.ts): what node:http itself costs per request, the part of
  // the noop row's ceiling that every Node server pays. A measuring stick, not a server.
  {
    name: 'noop-net',
    command: (ctx) => ['bench/noop-server.ts', '--workers', String(ctx.workers), '--port', '0', '--host', '127.0.0.1', '--net'],
  },
  { name: 'file-acks0', command: gateway(() => ['--acks', '0']) },
  { name: 'file-acks1', command: gateway(() => ['--acks', '1']) },
  // One partition, so one fdatasync per commit (file-acks1 syncs 2.7-3 per commit at 1 metric
  // per request): the most that a shared commit journal could give the acks-1 row
  // (bench/ISSUE-15.md, sixth round). Not a configuration we recommend: one partition, one consumer.
  { name: 'file-acks1-p1', command: gateway(() => ['--acks', '1', '--partitions', '1']) },
  // The same gateway with its log in RAM (tmpfs, where fdatasync returns at once): not a
  // durable configuration, but the diagnosis of file-acks1, which is what the gateway
  // costs apart from the disk's flush (bench/disk-sync.ts says what that flush costs).
  { name: 'file-acks1-ram', command: gateway(() => ['--acks', '1']), dataRoot: RAM_DIR },
  // The cost of tenants-and-security, each against file-acks1 of the same run.
  { name: 'file-acks1-auth', command: gateway(() => ['--acks', '1', '--auth', 'tokens', '--auth-file', securityFixture().authFile]), loadOptions: () => ({ authorization: benchAuthorization }) },
  { name: 'file-acks1-limits', command: gateway(() => ['--acks', '1', '--auth', 'tokens', '--auth-file', securityFixture().limitsFile]), loadOptions: () => ({ authorization: benchAuthorization }) },
  { name: 'file-acks1-tls', command: gateway(() => ['--acks', '1', '--tls-cert', securityFixture().cert, '--tls-key', securityFixture().key]), loadOptions: () => ({ https: true }) },
  {
    name: 'file-acks1-tls-limits',
    command: gateway(() => ['--acks', '1', '--auth', 'tokens', '--auth-file', securityFixture().limitsFile, '--tls-cert', securityFixture().cert, '--tls-key', securityFixture().key]),
    loadOptions: () => ({ https: true, authorization: benchAuthorization }),
  },
  { name: 'rw-acks1', command: gateway(() => ['--acks', '1']), load: remoteWriteBody },
  { name: 'influx-acks1', command: gateway(() => ['--acks', '1']), load: influxBody },
  { name: 'otlp-acks1', command: gateway(() => ['--acks', '1']), load: otlpBody },
  // The same bodies gzipped, as Telegraf, the OpenTelemetry Collector and the Influx clients send them.
  { name: 'influx-gzip-acks1', command: gateway(() => ['--acks', '1']), load: (k) => gzipped(influxBody(k)) },
  { name: 'otlp-gzip-acks1', command: gateway(() => ['--acks', '1']), load: (k) => gzipped(otlpBody(k)) },
  { name: 'peer-vmagent', command: () => [], load: remoteWriteBody, start: startVmagentPeer },
  // vmagent fed influx-acks1's line protocol bodies (its /api/v2/write), as the issue first measured it.
  { name: 'peer-vmagent-influx', command: () => [], load: influxBody, start: startVmagentPeer },
  { name: 'peer-vmagent-influx-gzip', command: () => [], load: (k) => gzipped(influxBody(k)), start: startVmagentPeer },
  { name: 'kafka-acks1', command: gateway(kafka('1')), needsBroker: true },
  { name: 'kafka-acksall', command: gateway(kafka('all')), needsBroker: true },
  // the cost of the idempotent producer (the default at acks all): the same row without it
  { name: 'kafka-acksall-plain', command: gateway((ctx) => [...kafka('all')(ctx), '--no-idempotent']), needsBroker: true },
  { name: 'peer-kafkajs', command: (ctx) => peerKafkajs(ctx.brokers!, ctx), needsBroker: true },
  {
    name: 'peer-cluster',
    command: (ctx) => ['bench/peers/kafkajs-per-request.ts', '--port', '0', '--brokers', ctx.brokers!, '--topic', ctx.topic, '--acks', 'all', '--cluster', String(ctx.workers)],
    needsBroker: true,
  },
  // The broker 1 ms away (the proxy, in its own process, holds every frame 1 ms each way),
  // 200 connections: the gateway at acks all against the per-request peer.
  {
    name: 'kafka-acksall-1ms',
    command: gateway((ctx) => ['--mode', 'kafka', '--brokers', ctx.slowBrokers!, '--topic', ctx.topic, '--acks', 'all']),
    needsBroker: true,
    slowBroker: true,
    connections: SLOW_BROKER_CONNECTIONS,
  },
  { name: 'peer-kafkajs-1ms', command: (ctx) => peerKafkajs(ctx.slowBrokers!, ctx), needsBroker: true, slowBroker: true, connections: SLOW_BROKER_CONNECTIONS },
];
