/**
 * `npm run bench:process-spread`: does a gateway process keep a speed of its own, and
 * how large is one run's noise? What bench:e2e's A/B runs (--base --interleave) are
 * designed around.
 *
 *   ┌──────────────────────┐  HTTP, C connections,   ┌──────────────────────────────────┐
 *   │ load (autocannon, in │  one server at a time   │ P server processes of one row,   │
 *   │ this process)        │ ──────────────────────▶ │ the same code, started together  │
 *   └──────────────────────┘  round r: P(r) P(r+1).. └──────────────────────────────────┘
 *        every thread's user and system CPU from /proc, before and after each turn
 *
 *   npm run bench:process-spread -- [--row file-acks1] [--processes 4] [--rounds 8]
 *       [--duration 4] [--warmup 10] [--metrics-per-request 1] [--workers 2]
 *       [--connections 20] [--root DIR] [--out DIR]
 *
 * The servers are started and warmed up one after another, then loaded in turns for
 * --rounds rounds, each round's order rotated by one. The log of each turn's req/s is
 * taken as round + process + noise (two-way, no interaction): the round term takes out
 * the machine's drift, the process term is what a process keeps for its life, the rest is
 * one run's noise. A permutation test (the process labels shuffled within each round,
 * 4,000 times, fixed seed) gives how often chance alone makes the process terms as
 * unequal as measured: p. Per process, each thread group's user and system CPU per
 * request (medians over its turns) show whether a slower process ran more code or
 * waited more in the kernel.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseInteger, parseSeconds, UsageError } from '../src/cli/args.ts';
import { runLoad } from '../src/load/run-load.ts';
import { prng } from '../test/support/prng.ts';
import { gatewayCheckout, isGatewayRow, loadOptionsOf, ROOT, ROWS, startServer, type Row, type RowContext, type RunningServer } from './e2e/servers.ts';
import { threadsOf, useByGroup } from './proc-threads.ts';
import { median } from './stats.ts';

const USAGE =
  'Usage: npm run bench:process-spread -- [--row file-acks1] [--processes 4] [--rounds 8] [--duration 4] [--warmup 10] ' +
  '[--metrics-per-request 1] [--workers 2] [--connections 20] [--root DIR] [--out DIR]';

const { values } = parseArgs({
  options: {
    row: { type: 'string', default: 'file-acks1' },
    processes: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '8' },
    duration: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '10' },
    'metrics-per-request': { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    connections: { type: 'string', default: '20' },
    root: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

let row: Row;
let processes: number, rounds: number, duration: number, warmup: number, k: number, workers: number, connections: number;
try {
  processes = parseInteger('processes', values.processes, 2, 32);
  rounds = parseInteger('rounds', values.rounds, 2, 1000);
  duration = parseSeconds('duration', values.duration);
  warmup = parseSeconds('warmup', values.warmup);
  k = parseInteger('metrics-per-request', values['metrics-per-request'], 1, 100_000);
  workers = parseInteger('workers', values.workers, 1, 256);
  connections = parseInteger('connections', values.connections, 1, 10_000);
  const found = ROWS.find((r) => r.name === values.row);
  if (found === undefined) throw new UsageError(`--row: "${values.row}" is not a bench:e2e row (known: ${ROWS.map((r) => r.name).join(', ')})`);
  if (found.needsBroker) throw new UsageError(`--row: ${found.name} needs a Kafka broker; this benchmark runs the rows that do not`);
  const root = values.root === undefined ? undefined : gatewayCheckout('root', values.root);
  row = root !== undefined && isGatewayRow(found, { workers, topic: '' }) ? { ...found, root } : found;
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`bench:process-spread: ${e.message}`);
  process.exit(2);
}

/** One turn: a server's timed load. */
interface Turn {
  round: number;
  process: number;
  requestsPerSecond: number;
  /** Per thread group: user and system CPU µs per answered request. */
  cpu: Record<string, { user: number; system: number }>;
}

/**
 * `x[round][process]` as round + process + noise: the process terms (in the units of x,
 * summing to 0) and the noise's standard deviation, (P-1)(R-1) degrees of freedom.
 */
function twoWay(x: number[][]): { effects: number[]; noiseSd: number; processMeanSquare: number } {
  const R = x.length;
  const P = x[0].length;
  const grand = x.flat().reduce((a, b) => a + b, 0) / (R * P);
  const roundMean = x.map((row) => row.reduce((a, b) => a + b, 0) / P);
  const effects = Array.from({ length: P }, (_, p) => x.reduce((a, row) => a + row[p], 0) / R - grand);
  let residual = 0;
  for (let r = 0; r < R; r++) for (let p = 0; p < P; p++) residual += (x[r][p] - roundMean[r] - effects[p]) ** 2;
  const processMeanSquare = (R * effects.reduce((a, e) => a + e * e, 0)) / (P - 1);
  return { effects, noiseSd: Math.sqrt(residual / ((P - 1) * (R - 1))), processMeanSquare };
}

/** How often shuffling the process labels within each round gives an F at least `x`'s. */
function permutationP(x: number[][], draws = 4000): number {
  const f = (m: number[][]) => {
    const t = twoWay(m);
    return t.processMeanSquare / Math.max(t.noiseSd ** 2, 1e-300);
  };
  const observed = f(x);
  const random = prng(16);
  let atLeast = 0;
  for (let d = 0; d < draws; d++) {
    const shuffled = x.map((row) => {
      const out = [...row];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    });
    if (f(shuffled) >= observed) atLeast++;
  }
  return atLeast / draws;
}

const pct = (logRatio: number) => `${logRatio >= 0 ? '+' : ''}${((Math.exp(logRatio) - 1) * 100).toFixed(1)} %`;

const ctx: RowContext = { workers, topic: `process-spread-${Date.now()}` };
console.log(
  `bench:process-spread on ${os.cpus()[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores, Node ${process.version}; row ${row.name}` +
    `${row.root === undefined ? '' : ` from ${row.root}`}, ${processes} processes, ${rounds} rounds of ${duration} s turns after ${warmup} s warm-up each, ` +
    `--workers ${workers}, ${connections} connections, ${k} metric(s)/request; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
);

const servers: RunningServer[] = [];
const turns: Turn[] = [];
try {
  for (let p = 0; p < processes; p++) servers.push(row.start ? await row.start(ctx) : await startServer(row, ctx));
  const options = loadOptionsOf(row, k);
  const load = (p: number, seconds: number) => runLoad({ port: servers[p].port, clients: connections, durationSeconds: seconds, ...options });
  for (let p = 0; p < processes; p++) await load(p, warmup);
  for (let round = 0; round < rounds; round++) {
    for (let t = 0; t < processes; t++) {
      const p = (round + t) % processes;
      const pid = servers[p].proc.pid!;
      const before = threadsOf(pid);
      const summary = await load(p, duration);
      // A turn with no answer has no speed (and its log none): the server is broken, not slow.
      if (summary.succeeded === 0) throw new Error(`process ${p} answered no request 2xx in round ${round} (status codes ${JSON.stringify(summary.statusCodes)}, ${summary.errors} errors)`);
      const used = useByGroup(before, threadsOf(pid));
      const n = Math.max(1, summary.succeeded);
      const cpu: Turn['cpu'] = {};
      for (const [name, g] of used) if (g.userUs + g.systemUs > 0) cpu[name] = { user: g.userUs / n, system: g.systemUs / n };
      turns.push({ round, process: p, requestsPerSecond: summary.succeeded / duration, cpu });
      const groups = Object.entries(cpu)
        .sort((a, b) => b[1].user + b[1].system - (a[1].user + a[1].system))
        .map(([name, c]) => `${name} ${c.user.toFixed(1)}+${c.system.toFixed(1)}`);
      console.log(`round ${round} process ${p}: ${Math.round(summary.succeeded / duration)} req/s; CPU µs/request, user+system: ${groups.join(', ')}`);
    }
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
}

const logs = Array.from({ length: rounds }, (_, r) => Array.from({ length: processes }, (_, p) => Math.log(turns.find((t) => t.round === r && t.process === p)!.requestsPerSecond)));
const { effects, noiseSd } = twoWay(logs);
const p = permutationP(logs);
console.log('');
const perProcess = effects.map((effect, i) => {
  const mine = turns.filter((t) => t.process === i);
  const groups = [...new Set(mine.flatMap((t) => Object.keys(t.cpu)))];
  const cpu = Object.fromEntries(groups.map((g) => [g, { user: median(mine.map((t) => t.cpu[g]?.user ?? 0)), system: median(mine.map((t) => t.cpu[g]?.system ?? 0)) }]));
  const requestsPerSecond = median(mine.map((t) => t.requestsPerSecond));
  const top = Object.entries(cpu)
    .filter(([, c]) => c.user + c.system >= 0.5)
    .sort((a, b) => b[1].user + b[1].system - (a[1].user + a[1].system))
    .map(([name, c]) => `${name} ${c.user.toFixed(1)}+${c.system.toFixed(1)}`);
  console.log(`process ${i}: ${pct(effect)} against the mean (median ${Math.round(requestsPerSecond)} req/s); CPU µs/request, user+system: ${top.join(', ')}`);
  return { process: i, effect: Math.exp(effect), requestsPerSecond, cpu };
});
const spread = Math.exp(Math.max(...effects) - Math.min(...effects)) - 1;
console.log(
  `\none run's noise (the round and the process taken out): ${(noiseSd * 100).toFixed(1)} %; the fastest process ${(spread * 100).toFixed(1)} % above the slowest; ` +
    // One run in 20 passes 0.05 by chance alone: a single p under it is a hint, not a finding.
    `permutation p = ${p.toFixed(3)} (${p < 0.05 ? 'the processes differ more than chance makes them in 19 runs of 20' : 'within what chance gives'})`,
);

const outDir = path.resolve(ROOT, values.out ?? 'bench/results/process-spread');
mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, `process-spread-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), node: process.version, loadAverage: os.loadavg() },
      row: row.name,
      root: row.root,
      options: { processes, rounds, duration, warmup, metricsPerRequest: k, workers, connections },
      noise: noiseSd,
      spread,
      permutationP: p,
      processes: perProcess,
      turns,
    },
    null,
    2,
  ),
);
console.log(`JSON: ${path.relative(ROOT, file)}`);
