/**
 * `npm run bench:e2e`: every server behind the same HTTP load, in one run.
 *
 * ```
 *   load generator (autocannon, this process)
 *        │  C keep-alive connections, one client id each, the same body for every row
 *        ▼
 *   ┌──────────────────────────── one process at a time ───────────────────────────┐
 *   │ noop          N worker threads answering 200, no work (the ceiling)         │
 *   │ file-acks0/1  gateway: N HTTP workers → rings → owner → partition log       │
 *   │ file-acks1-p1 the same with one partition: one fdatasync per commit          │
 *   │ file-acks1-ram the same with its log on tmpfs: the gateway without the flush │
 *   │ rw/influx/otlp-acks1  gateway, file, acks 1, the same samples sent as        │
 *   │               remote_write, Influx line protocol, OTLP protobuf             │
 *   │ peer-vmagent  vmagent (remote_write in, on-disk queue, no-op store behind)  │
 *   │ peer-vmagent-influx  the same vmagent, Influx line protocol in               │
 *   │ kafka-acks1/all  gateway: … → owner → one kafkajs producer → mock cluster   │
 *   │ peer-kafkajs  one thread: http.createServer + producer.send per request     │
 *   │ peer-cluster  node:cluster, N processes, one producer each                  │
 *   │ kafka-acksall-1ms, peer-kafkajs-1ms  the same two against a broker 1 ms away │
 *   │               (a second mock cluster; its proxy, in its own process, holds   │
 *   │               every frame 1 ms each way), 200 connections                   │
 *   └──────────────────────────────────────────────────────────────────────────────┘
 * ```
 *
 * Each row: a warm-up of --warmup seconds (10 by default: the gateway's JIT takes that long
 * to settle under load, the no-op server's about 2 s; with 1 s, as before, the first
 * timed run caught the gateway still compiling), then `--runs` timed runs; reports the
 * median requests/s and metrics/s,
 * the median run's p50/p99, the worst max, CPU seconds per million metrics (the server
 * process only, from /proc) and the ratio to the no-op ceiling.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import readline from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseInteger, parseSeconds, UsageError } from '../../src/cli/args.ts';
import { runLoad, type LoadSummary } from '../../src/load/run-load.ts';
import { cpuSecondsOf, gatewayCheckout, isGatewayRow, loadOptionsOf, ROOT, ROWS, startServer, terminate, type Row, type RowContext, type RunningServer } from './servers.ts';
import { renderChart } from './chart.ts';
import { median } from '../stats.ts';
import { describeSyncLatency, measureSyncLatency, type SyncLatency } from '../disk-sync.ts';
import { prng } from '../../test/support/prng.ts';

const { values } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h' },
    rows: { type: 'string' },
    workers: { type: 'string' },
    connections: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    runs: { type: 'string' },
    'session-runs': { type: 'string' },
    'metrics-per-request': { type: 'string' },
    sweep: { type: 'boolean' },
    interleave: { type: 'boolean' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
    base: { type: 'string' },
    'node-flags': { type: 'string' },
  },
});

if (values.help) {
  console.log(`Usage: npm run bench:e2e -- [options]
  --rows a,b,...             rows to run (default: all; ${ROWS.map((r) => r.name).join(', ')})
  --workers N                worker threads / processes per server (default 2, the core count here)
  --connections N            concurrent connections for every row (default 20; the *-1ms
                             rows default to 200)
  --duration S               seconds per timed run (default 5)
  --warmup S                 seconds of load before a row's timed runs (default 10, --quick 1):
                             the gateway's JIT is still compiling after 1 s of load
  --runs N                   timed runs per row, median reported (default 3)
  --metrics-per-request K,.. body sizes to run (default 1,100)
  --sweep                    also the gateway (file, acks 1) at --workers 1,2,4,8,16
  --interleave               start every row's server at once and take the timed runs in
                             turns (A B C A B C ...): drift of a shared machine hits every
                             row alike, for A/B comparisons (Kafka rows too: each keeps
                             its producer connected between its turns)
  --quick                    1 run of 1 s per row (smoke test)
  --out DIR                  results directory (default bench/results)
  --base DIR                 A/B against another checkout: every gateway row also runs from
                             DIR (its own src/, e.g. \`git worktree add DIR <commit>\` with
                             this node_modules linked in), as <row>@base beside <row>, and
                             the after/before ratios are printed; with --interleave the two
                             take turns (their order swapped every other run), so the
                             machine's drift hits both alike, on servers started afresh
                             every --session-runs runs (several processes per side); the
                             req/s and CPU ratios are medians of the runs paired turn by
                             turn, with 90 % intervals over the sessions: one that holds 1
                             is no difference
  --node-flags "F ..."       node flags added to this checkout's gateway rows (after the
                             gateway's own, src/main/node-flags.ts; not to @base's): with
                             --base at the same commit, an A/B of a flag, e.g.
                             --node-flags=--no-single-threaded-gc
  --session-runs N           with --base --interleave: timed runs per set of servers
                             (default 4; each set is started and warmed up afresh, @base's
                             server first in every other set)`);
  process.exit(0);
}

const quick = values.quick ?? false;
const nodeFlags = (values['node-flags'] ?? '').split(' ').filter((f) => f !== '');
/** The extra node flags of `row`'s server: --node-flags for this checkout's gateway rows. */
const flagsOf = (row: Row): string[] => (row.root === undefined && isGatewayRow(row, ctx) ? nodeFlags : []);
let workers: number, connections: number | undefined, duration: number, warmup: number, runs: number, perRequest: number[];
let base: string | undefined;
let sessionRuns: number | undefined;
try {
  workers = parseInteger('workers', values.workers ?? '2', 1, 256);
  connections = values.connections === undefined ? undefined : parseInteger('connections', values.connections, 1, 10_000);
  duration = parseSeconds('duration', values.duration ?? (quick ? '1' : '5'));
  warmup = parseSeconds('warmup', values.warmup ?? (quick ? '1' : '10'));
  runs = parseInteger('runs', values.runs ?? (quick ? '1' : '3'), 1, 100);
  perRequest = (values['metrics-per-request'] ?? '1,100').split(',').map((k) => parseInteger('metrics-per-request', k.trim(), 1, 100_000));
  base = values.base === undefined ? undefined : gatewayCheckout('base', values.base);
  sessionRuns = values['session-runs'] === undefined ? undefined : parseInteger('session-runs', values['session-runs'], 1, 100);
  // Sessions exist only where a row runs beside its @base twin; anywhere else the flag
  // would be ignored, and the user would read a run they did not ask for.
  if (sessionRuns !== undefined && (base === undefined || !values.interleave)) throw new UsageError('--session-runs needs --base and --interleave');
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`bench:e2e: ${e.message}`);
  process.exit(2);
}
const wanted = values.rows?.split(',') ?? ROWS.map((r) => r.name);
const outDir = path.resolve(ROOT, values.out ?? 'bench/results');
for (const name of wanted) {
  if (!ROWS.some((r) => r.name === name)) {
    console.error(`bench:e2e: --rows: unknown row "${name}" (known: ${ROWS.map((r) => r.name).join(', ')})`);
    process.exit(2);
  }
}

export interface RowResult {
  row: string;
  workers: number;
  connections: number;
  metricsPerRequest: number;
  requestsPerSecond: number;
  metricsPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  successRate: number;
  cpuSecondsPerMillionMetrics: number;
  /**
   * The *-1ms rows: CPU of the broker side (the delaying proxy and the mock cluster, their
   * own processes) per million metrics. It shares the two cores with the server, and a
   * server that sends a request per record makes it work harder.
   */
  brokerCpuSecondsPerMillionMetrics?: number;
  ratioToNoop: number | null;
  /**
   * Each timed run. With --interleave also `turn`, its place in that run's order of turns
   * (from 0), `session` (the set of server processes it ran on, from 0; with @base rows
   * `X@base` was started before `X` in the even ones),
   * and the server's CPU per million metrics in that run alone.
   */
  runs: {
    requestsPerSecond: number;
    p50: number;
    p99: number;
    max: number;
    statusCodes: Record<string, number>;
    turn?: number;
    session?: number;
    cpuSecondsPerMillionMetrics?: number;
  }[];
}

const DEFAULT_CONNECTIONS = 20;

/** A row's connections: --connections when given, else the row's own, else 20. */
function connectionsOf(row: Row): number {
  return connections ?? row.connections ?? DEFAULT_CONNECTIONS;
}

async function measure(row: Row, ctx: RowContext, k: number): Promise<RowResult> {
  const server = row.start ? await row.start(ctx) : await startServer(row, ctx, flagsOf(row));
  const options = loadOptionsOf(row, k);
  const clients = connectionsOf(row);
  try {
    await runLoad({ port: server.port, clients, durationSeconds: warmup, ...options });
    const results: LoadSummary[] = [];
    const cpuBefore = server.cpuSeconds();
    const brokerBefore = brokerCpu(row, ctx);
    for (let i = 0; i < runs; i++) {
      results.push(await runLoad({ port: server.port, clients, durationSeconds: duration, ...options }));
    }
    return summarize(row, ctx, k, results, server.cpuSeconds() - cpuBefore, brokerCpu(row, ctx) - brokerBefore);
  } finally {
    await server.stop();
  }
}

/**
 * Every row's server at once, timed runs taken in turns; see --interleave. With @base rows
 * the runs are split into sessions of --session-runs, each on servers started afresh and
 * warmed up, `X@base` started before `X` in every other one, so that an A/B rests on
 * several server processes per side: whatever a process might keep for its life (a few per
 * cent at most; bench:process-spread found none beyond chance, bench/ISSUE-15.md, sixteenth
 * round), more runs of the same two processes would not average it out.
 */
async function measureInterleaved(rows: Row[], ctx: RowContext, k: number): Promise<RowResult[]> {
  const paired = rows.some((r) => r.name.endsWith('@base'));
  const perSession = paired ? (sessionRuns ?? 4) : runs;
  const sessions: number[] = [];
  for (let left = runs; left > 0; left -= perSession) sessions.push(Math.min(perSession, left));
  const results: LoadSummary[][] = rows.map(() => []);
  const perRun: RunMark[][] = rows.map(() => []);
  const cpu = rows.map(() => 0);
  const brokerCpuUsed = rows.map(() => 0);
  let r = 0;
  for (let session = 0; session < sessions.length; session++) {
    const servers: RunningServer[] = new Array(rows.length);
    try {
      const startOrder = turnOrder(rows, session);
      for (const i of startOrder) servers[i] = rows[i].start ? await rows[i].start!(ctx) : await startServer(rows[i], ctx, flagsOf(rows[i]));
      const load = (i: number, seconds: number) => runLoad({ port: servers[i].port, clients: connectionsOf(rows[i]), durationSeconds: seconds, ...loadOptionsOf(rows[i], k) });
      for (const i of startOrder) await load(i, warmup);
      for (let n = 0; n < sessions[session]; n++, r++) {
        const order = turnOrder(rows, r);
        for (let t = 0; t < order.length; t++) {
          const i = order[t];
          const before = servers[i].cpuSeconds();
          const brokerBefore = brokerCpu(rows[i], ctx);
          results[i].push(await load(i, duration));
          const used = servers[i].cpuSeconds() - before;
          perRun[i].push({ turn: t, session, cpuSeconds: used });
          cpu[i] += used;
          brokerCpuUsed[i] += brokerCpu(rows[i], ctx) - brokerBefore;
        }
      }
    } finally {
      await Promise.all(servers.filter((x) => x !== undefined).map((x) => x.stop()));
    }
  }
  return rows.map((row, i) => summarize(row, ctx, k, results[i], cpu[i], brokerCpuUsed[i], perRun[i]));
}

/** Where an interleaved run stood: its turn, its session (see measureInterleaved), its CPU. */
interface RunMark {
  turn: number;
  session: number;
  cpuSeconds: number;
}

/**
 * The order of run `r`'s turns, or of session `r`'s starts, as indices into `rows`: every
 * odd one swaps each `X@base` with the `X` after it, so that whatever going first or second
 * does to a row (the previous row's disk writeback, its threads' last GCs) hits both alike.
 * Neither order was found to matter beyond the noise (bench/ISSUE-15.md, fifteenth round),
 * but a fixed one would bake it into every A/B if it did.
 */
function turnOrder(rows: Row[], r: number): number[] {
  const order = rows.map((_, i) => i);
  if (r % 2 === 0) return order;
  for (let i = 0; i + 1 < order.length; i++) {
    if (rows[i].name === `${rows[i + 1].name}@base`) [order[i], order[i + 1]] = [order[i + 1], order[i]];
  }
  return order;
}

/** CPU seconds of the 1 ms broker's processes so far, for its rows; NaN for the others. */
function brokerCpu(row: Row, ctx: RowContext): number {
  return row.slowBroker && ctx.slowBrokerCpuSeconds ? ctx.slowBrokerCpuSeconds() : NaN;
}

function summarize(
  row: Row,
  ctx: RowContext,
  k: number,
  results: LoadSummary[],
  cpu: number,
  brokerCpuUsed: number,
  marks?: RunMark[],
): RowResult {
  {
    const metrics = results.reduce((a, r) => a + r.succeeded * k, 0);
    const byRps = [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
    const mid = byRps[Math.floor((byRps.length - 1) / 2)];
    return {
      row: row.name,
      workers: ctx.workers,
      connections: connectionsOf(row),
      metricsPerRequest: k,
      requestsPerSecond: median(results.map((r) => r.requestsPerSecond)),
      metricsPerSecond: median(results.map((r) => r.metricsPerSecond)),
      p50: mid.latencyMs.p50,
      p99: mid.latencyMs.p99,
      max: Math.max(...results.map((r) => r.latencyMs.max)),
      successRate: median(results.map((r) => r.successRate)),
      cpuSecondsPerMillionMetrics: metrics > 0 ? (cpu / metrics) * 1e6 : NaN,
      ...(Number.isNaN(brokerCpuUsed) ? {} : { brokerCpuSecondsPerMillionMetrics: metrics > 0 ? (brokerCpuUsed / metrics) * 1e6 : NaN }),
      ratioToNoop: null,
      runs: results.map((r, i) => ({
        requestsPerSecond: r.requestsPerSecond,
        p50: r.latencyMs.p50,
        p99: r.latencyMs.p99,
        max: r.latencyMs.max,
        statusCodes: r.statusCodes,
        ...(marks === undefined
          ? {}
          : { turn: marks[i].turn, session: marks[i].session, cpuSecondsPerMillionMetrics: r.succeeded > 0 ? (marks[i].cpuSeconds / (r.succeeded * k)) * 1e6 : NaN }),
      })),
    };
  }
}

function table(results: RowResult[]): string {
  const head = ['row', 'workers', 'conns', 'metrics/req', 'req/s', 'metrics/s', 'p50 ms', 'p99 ms', 'max ms', 'ok %', 'CPU s/M metrics', 'vs noop'];
  const lines = results.map((r) => [
    r.row,
    String(r.workers),
    String(r.connections),
    String(r.metricsPerRequest),
    Math.round(r.requestsPerSecond).toLocaleString('en-US'),
    Math.round(r.metricsPerSecond).toLocaleString('en-US'),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.max.toFixed(1),
    (r.successRate * 100).toFixed(1),
    r.cpuSecondsPerMillionMetrics.toFixed(2),
    r.ratioToNoop === null ? '' : r.ratioToNoop.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

/**
 * `npm run kafka:local -- --latency 1ms` as a child process: its proxy's timers must not
 * share an event loop with the load generator, or the added latency would grow with load.
 * stop() returns what the proxy reports about the delay frames actually got.
 */
async function startSlowBroker(): Promise<{ bootstrap: string; cpuSeconds(): number; stop(): Promise<string> }> {
  const proc = spawn(process.execPath, ['--import', './src/main/require-node.mjs', 'test/support/local-broker.ts', '--brokers', '3', '--latency', '1ms'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const lines: string[] = [];
  const bootstrap = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      lines.push(line);
      const m = /^bootstrap servers: (\S+)/.exec(line);
      if (m) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`kafka:local --latency exited (${code}) before printing its address: ${stderr}`)));
  });
  return {
    bootstrap,
    cpuSeconds: () => cpuSecondsOf(proc.pid!),
    async stop() {
      await terminate(proc, 10_000);
      return lines.find((l) => l.startsWith('proxy latency:')) ?? '';
    },
  };
}

const selected = ROWS.filter((r) => wanted.includes(r.name));
let broker: { bootstrap: string; stop(): Promise<void> } | undefined;
let slowBroker: Awaited<ReturnType<typeof startSlowBroker>> | undefined;
if (selected.some((r) => r.needsBroker && !r.slowBroker)) {
  const { startLocalBroker } = await import('../../test/support/local-broker.ts');
  broker = await startLocalBroker({ brokers: 3 });
}
if (selected.some((r) => r.slowBroker)) slowBroker = await startSlowBroker();
const ctx: RowContext = {
  workers,
  brokers: broker?.bootstrap,
  slowBrokers: slowBroker?.bootstrap,
  slowBrokerCpuSeconds: slowBroker?.cpuSeconds,
  topic: `bench-${Date.now()}`,
};

/** The rows to measure: the selected ones, with each gateway row's @base twin before it. */
const rows: Row[] =
  base === undefined
    ? selected
    : selected.flatMap((r) => (isGatewayRow(r, ctx) ? [{ ...r, name: `${r.name}@base`, root: base }, r] : [r]));

/**
 * With --interleave, each run of `after` is paired with the run of `before` taken beside it
 * (the same round of turns, seconds apart, so the machine's drift cancels): the paired
 * req/s and CPU-per-metric ratios, in run order. Empty without --interleave.
 */
function pairedRatios(before: RowResult, after: RowResult): { rps: number; cpu: number; baseFirst: boolean; session: number }[] {
  const pairs: { rps: number; cpu: number; baseFirst: boolean; session: number }[] = [];
  before.runs.forEach((b, r) => {
    const a = after.runs[r];
    if (a === undefined || b.turn === undefined || a.turn === undefined) return;
    pairs.push({
      rps: a.requestsPerSecond / b.requestsPerSecond,
      cpu: (a.cpuSecondsPerMillionMetrics ?? NaN) / (b.cpuSecondsPerMillionMetrics ?? NaN),
      baseFirst: b.turn < a.turn,
      session: b.session ?? 0,
    });
  });
  return pairs;
}

/**
 * A 90 % interval for the median of `xs`, by the percentile bootstrap: 2,000 resamples
 * drawn with a fixed seed, so one result prints the same interval every time. `cluster[i]`
 * names the session `xs[i]` was measured in; with two or more sessions whole sessions are
 * resampled: runs on the same two server processes are independent only if a process has
 * no speed of its own, which was not shown but cannot be ruled out below a few per cent,
 * and resampling sessions is the wider, safe choice. On this 2-core machine one paired
 * ratio of file, acks 1 varies by 7-18 % (bench:process-spread, bench/ISSUE-15.md,
 * sixteenth round): an A/B whose interval holds 1 is not a finding.
 */
function medianInterval(xs: number[], cluster: number[]): [number, number] {
  const random = prng(15);
  const groups = bySession(xs, cluster);
  const draw = (): number[] => {
    if (groups.length < 2) return Array.from(xs, () => xs[Math.floor(random() * xs.length)]);
    return groups.flatMap(() => groups[Math.floor(random() * groups.length)]);
  };
  const medians: number[] = [];
  for (let i = 0; i < 2000; i++) medians.push(median(draw()));
  medians.sort((a, b) => a - b);
  return [medians[Math.floor(0.05 * medians.length)], medians[Math.ceil(0.95 * medians.length) - 1]];
}

/** `xs` split by `cluster[i]`, the session each was measured in, sessions in first-seen order. */
function bySession(xs: number[], cluster: number[]): number[][] {
  const groups = new Map<number, number[]>();
  xs.forEach((x, i) => groups.set(cluster[i], [...(groups.get(cluster[i]) ?? []), x]));
  return [...groups.values()];
}

/** After/before lines for each row measured beside its @base twin. */
function baseComparison(block: RowResult[]): string {
  const lines: string[] = [];
  for (const after of block) {
    const before = block.find((r) => r.row === `${after.row}@base`);
    if (before === undefined) continue;
    const pairs = pairedRatios(before, after);
    const ratios = pairs.map((p) => p.rps);
    const sessions = pairs.map((p) => p.session);
    const cpuPairs = pairs.filter((p) => Number.isFinite(p.cpu));
    const paired = (xs: number[], cluster: number[]) => {
      const [lo, hi] = medianInterval(xs, cluster);
      return `${median(xs).toFixed(2)}x (90 % interval ${lo.toFixed(2)}-${hi.toFixed(2)})`;
    };
    const rps = ratios.length > 0 ? paired(ratios, sessions) : `${(after.requestsPerSecond / before.requestsPerSecond).toFixed(2)}x`;
    const cpu =
      cpuPairs.length > 0
        ? paired(
            cpuPairs.map((p) => p.cpu),
            cpuPairs.map((p) => p.session),
          )
        : `${(after.cpuSecondsPerMillionMetrics / before.cpuSecondsPerMillionMetrics).toFixed(2)}x`;
    const sessionRatios = bySession(ratios, sessions);
    const count = sessionRatios.length;
    lines.push(
      `  ${after.row}: req/s ${rps}, CPU per metric ${cpu}, p99 ${before.p99.toFixed(2)} -> ${after.p99.toFixed(2)} ms ` +
        `(after / before${ratios.length > 0 ? `; medians of ${ratios.length} paired runs in ${count} session${count === 1 ? '' : 's'}` : ''})`,
    );
    if (count > 1) {
      lines.push(`    req/s by session: ${sessionRatios.map((xs) => median(xs).toFixed(2) + 'x').join(', ')} (@base's server started first in the 1st, 3rd, ...)`);
    }
    const first = ratios.filter((_, i) => pairs[i].baseFirst);
    const second = ratios.filter((_, i) => !pairs[i].baseFirst);
    if (first.length > 0 && second.length > 0) {
      lines.push(`    req/s by turn order: ${median(first).toFixed(2)}x in the ${first.length} runs with @base first, ${median(second).toFixed(2)}x in the ${second.length} with it second`);
    }
  }
  return lines.length === 0 ? '' : `\nagainst ${base}:\n${lines.join('\n')}`;
}

const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
  os: `${os.type()} ${os.release()}`,
};
console.log(
  `bench:e2e on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${connections ?? `${DEFAULT_CONNECTIONS} (the *-1ms rows: ${ROWS.find((r) => r.slowBroker)?.connections})`} connections, ${warmup} s warm-up + ${runs} x ${duration}s per row; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
);
// The flush every acks-1 file row waits for, where its data dir is (bench/disk-sync.ts).
const syncLatency: SyncLatency[] = [];
for (const dir of new Set([os.tmpdir(), ...rows.flatMap((r) => (r.dataRoot === undefined ? [] : [r.dataRoot]))])) {
  const s = await measureSyncLatency(dir);
  syncLatency.push(s);
  console.log(describeSyncLatency(s));
}

const results: RowResult[] = [];
let slowBrokerDelays = '';
try {
  for (const k of perRequest) {
    const block: RowResult[] = [];
    if (values.interleave) {
      process.stderr.write(`  ${rows.map((r) => r.name).join(', ')} interleaved (${k} metrics/request)...\n`);
      block.push(...(await measureInterleaved(rows, ctx, k)));
    } else {
      for (const row of rows) {
        process.stderr.write(`  ${row.name} (${k} metrics/request)...\n`);
        block.push(await measure(row, ctx, k));
      }
    }
    const noop = block.find((r) => r.row === 'noop');
    for (const r of block) r.ratioToNoop = noop ? r.requestsPerSecond / noop.requestsPerSecond : null;
    results.push(...block);
    console.log(`\n${k} metric(s) per request:\n${table(block)}${baseComparison(block)}`);
    for (const r of block) {
      if (r.brokerCpuSecondsPerMillionMetrics !== undefined) {
        console.log(`  ${r.row}: the 1 ms broker's processes (proxy + mock) used ${r.brokerCpuSecondsPerMillionMetrics.toFixed(2)} CPU s / M metrics`);
      }
    }
  }
  if (values.sweep) {
    const sweep: RowResult[] = [];
    const row = ROWS.find((r) => r.name === 'file-acks1')!;
    for (const w of [1, 2, 4, 8, 16]) {
      process.stderr.write(`  sweep file-acks1 --workers ${w}...\n`);
      sweep.push(await measure(row, { ...ctx, workers: w }, perRequest[0]));
    }
    results.push(...sweep.map((r) => ({ ...r, row: `sweep-${r.row}` })));
    console.log(`\nScaling sweep (file, acks 1, ${perRequest[0]} metric(s) per request):\n${table(sweep)}`);
  }
} finally {
  await broker?.stop();
  slowBrokerDelays = (await slowBroker?.stop()) ?? '';
  if (slowBrokerDelays) console.log(`\nbroker 1 ms away: ${slowBrokerDelays}`);
}

mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const report = {
  at: new Date().toISOString(),
  machine,
  loadAverage: os.loadavg(),
  syncLatency,
  connections: connections ?? DEFAULT_CONNECTIONS,
  durationSeconds: duration,
  warmupSeconds: warmup,
  runs,
  ...(slowBrokerDelays ? { slowBroker: slowBrokerDelays } : {}),
  results,
};
writeFileSync(path.join(outDir, `e2e-${stamp}.json`), JSON.stringify(report, null, 2));
writeFileSync(path.join(outDir, 'e2e-latest.json'), JSON.stringify(report, null, 2));
writeFileSync(path.join(outDir, 'e2e-latest.svg'), renderChart(report));
console.log(`\nwrote ${path.relative(ROOT, path.join(outDir, 'e2e-latest.json'))} and e2e-latest.svg`);
