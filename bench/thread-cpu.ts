/**
 * `npm run bench:thread-cpu`: where a request's CPU goes, thread by thread, in the server
 * process (the README's "Where the time goes").
 *
 *   ┌──────────────────────┐  HTTP, C connections   ┌─────────────────────────────────┐
 *   │ load (autocannon, in │ ─────────────────────▶ │ server process (a bench:e2e row) │
 *   │ this process)        │  K metrics / request   │  HTTP workers, main (the owner), │
 *   └──────────────────────┘                        │  libuv pool, V8 platform threads │
 *                                                   └─────────────────────────────────┘
 *            /proc/<pid>/task/<tid>/stat and status read before and after the timed load
 *
 *   npm run bench:thread-cpu -- [--rows noop,file-acks0,file-acks1] [--metrics-per-request 1]
 *                               [--duration 8] [--warmup 10] [--workers 2] [--connections 20]
 *                               [--gc] [--root DIR]
 *
 * Rows are bench:e2e's (bench/e2e/servers.ts), the vmagent peers included (their threads
 * are Go's, all named vmagent; the no-op store behind them is not counted, as in bench:e2e).
 * Each row's server is started alone, warmed
 * up for --warmup seconds (10 by default, as bench:e2e: the gateway's JIT takes that long to
 * settle), then every thread's CPU (utime + stime) and context switches are read, the
 * load runs for --duration, and they are read again. Threads are grouped by name (a
 * trailing -N dropped), and each group is reported in CPU µs per answered request, with
 * the load generator's own CPU (this process) and the requests/s that the server's and
 * the load's CPU together allow on this machine's cores. One
 * run per row, rows one after another: compare rows of one run, and repeat it.
 *
 * --gc starts the server under `--trace-gc-nvp` and adds, per V8 isolate (the owner's and
 * each worker's; the trace names them by address only), the scavenges and mark-compacts
 * of the timed load per 1,000 answered requests, their pauses and the bytes allocated per
 * request. Mark-compacts that the heap's own growth does not explain are V8 reacting to
 * external memory: ArrayBuffers allocated per request. --root DIR runs the gateway rows
 * from another checkout (its src/), for A/B runs of a change.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { parseInteger, parseSeconds, UsageError } from '../src/cli/args.ts';
import { runLoad } from '../src/load/run-load.ts';
import { gatewayCheckout, isGatewayRow, loadOptionsOf, ROWS, startServer, type Row, type RowContext } from './e2e/servers.ts';
import { threadsOf, useByGroup, type GroupUse } from './proc-threads.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: 'noop,file-acks0,file-acks1' },
    'metrics-per-request': { type: 'string', default: '1' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    connections: { type: 'string', default: '20' },
    gc: { type: 'boolean', default: false },
    root: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('Usage: npm run bench:thread-cpu -- [--rows noop,file-acks0,file-acks1] [--metrics-per-request 1] [--duration 8] [--warmup 10] [--workers 2] [--connections 20] [--gc] [--root DIR]');
  process.exit(0);
}

let root: string | undefined;
let k: number, duration: number, warmup: number, workers: number, connections: number;
const rows: Row[] = [];
try {
  k = parseInteger('metrics-per-request', values['metrics-per-request'], 1, 100_000);
  duration = parseSeconds('duration', values.duration);
  warmup = parseSeconds('warmup', values.warmup);
  root = values.root === undefined ? undefined : gatewayCheckout('root', values.root);
  workers = parseInteger('workers', values.workers, 1, 256);
  connections = parseInteger('connections', values.connections, 1, 10_000);
  for (const name of values.rows.split(',')) {
    const row = ROWS.find((r) => r.name === name);
    if (row === undefined) throw new UsageError(`--rows: "${name}" is not a bench:e2e row (known: ${ROWS.map((r) => r.name).join(', ')})`);
    rows.push(row);
  }
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`bench:thread-cpu: ${e.message}`);
  process.exit(2);
}

/**
 * Per isolate, from `--trace-gc-nvp` lines (`[pid:0xISOLATE:0] ... pause=P ... gc=s|mc|ms
 * ... allocated=B ...`): collections per 1,000 requests, pause, and bytes allocated per
 * request (V8 reports `allocated` with each scavenge: the young generation's since the last).
 */
function printGc(trace: string, requests: number): void {
  const isolates = new Map<string, { scavenges: number; markCompacts: number; pauseMs: number; allocated: number }>();
  for (const line of trace.split('\n')) {
    const kind = /\bgc=(s|mc|ms)\b/.exec(line)?.[1];
    if (kind === undefined) continue;
    const id = /^\[\d+:(0x[0-9a-f]+)[:\]]/.exec(line)?.[1] ?? '?';
    const g = isolates.get(id) ?? { scavenges: 0, markCompacts: 0, pauseMs: 0, allocated: 0 };
    if (kind === 's') {
      g.scavenges++;
      g.allocated += Number(/\ballocated=(\d+)/.exec(line)?.[1] ?? 0);
    } else g.markCompacts++;
    g.pauseMs += Number(/\bpause=([\d.]+)/.exec(line)?.[1] ?? 0);
    isolates.set(id, g);
  }
  const per1k = (x: number) => ((1000 * x) / requests).toFixed(3).padStart(6);
  for (const [id, g] of [...isolates].sort((x, y) => y[1].allocated - x[1].allocated)) {
    console.log(
      `  gc, isolate ${id.padEnd(15)} per 1k requests: ${per1k(g.scavenges)} scavenges ${per1k(g.markCompacts)} mark-compacts; ` +
        `pause ${g.pauseMs.toFixed(0)} ms in all, ${(g.allocated / requests).toFixed(0)} B allocated/request`,
    );
  }
}

let broker: { bootstrap: string; stop(): Promise<void> } | undefined;
if (rows.some((r) => r.needsBroker)) {
  if (rows.some((r) => r.slowBroker)) {
    console.error('bench:thread-cpu: the *-1ms rows need bench:e2e\'s slow broker; run them there');
    process.exit(2);
  }
  const { startLocalBroker } = await import('../test/support/local-broker.ts');
  broker = await startLocalBroker({ brokers: 3 });
}
const ctx: RowContext = { workers, brokers: broker?.bootstrap, topic: `thread-cpu-${Date.now()}` };
console.log(
  `bench:thread-cpu on ${os.cpus()[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores, Node ${process.version}; ` +
    `--workers ${workers}, ${connections} connections, ${k} metric(s)/request, ${warmup} s warm-up + ${duration} s per row${root === undefined ? '' : `; gateway rows from ${root}`}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
);
try {
  for (const row of rows) {
    // Rows with a start of their own (vmagent) run their own binary: --gc does not reach them.
    const server = row.start
      ? await row.start(ctx)
      : await startServer(root !== undefined && isGatewayRow(row, ctx) ? { ...row, root } : row, ctx, values.gc ? ['--trace-gc-nvp'] : []);
    let trace = '';
    if (values.gc) server.proc.stdout!.on('data', (d: Buffer) => (trace += d.toString('latin1')));
    try {
      const options = loadOptionsOf(row, k);
      const load = (seconds: number) => runLoad({ port: server.port, clients: connections, durationSeconds: seconds, ...options });
      await load(warmup);
      const before = threadsOf(server.proc.pid!);
      const traceFrom = trace.length;
      const loadBefore = process.cpuUsage();
      const summary = await load(duration);
      const loadUse = process.cpuUsage(loadBefore);
      const after = threadsOf(server.proc.pid!);
      const gcLines = trace.slice(traceFrom);
      const groups = useByGroup(before, after);
      const n = summary.succeeded;
      console.log(`\n${row.name}: ${Math.round(summary.requestsPerSecond)} req/s, ${n} answered 2xx, p99 ${summary.latencyMs.p99} ms`);
      let total = 0;
      const usOf = (g: GroupUse) => g.userUs + g.systemUs;
      for (const [name, g] of [...groups].sort((x, y) => usOf(y[1]) - usOf(x[1]))) {
        if (usOf(g) === 0 && g.switches === 0) continue;
        total += usOf(g);
        console.log(`  ${`${name} (${g.threads})`.padEnd(24)} ${(usOf(g) / n).toFixed(1).padStart(7)} µs/request  ${(g.switches / n).toFixed(2).padStart(6)} context switches/request`);
      }
      console.log(`  ${'total'.padEnd(24)} ${(total / n).toFixed(1).padStart(7)} µs/request`);
      // The load generator shares the machine's cores: a row whose server and load together
      // keep every core busy can answer no more than cores / (server + load) CPU per request.
      const loadUs = (loadUse.user + loadUse.system) / n;
      const bothUs = total / n + loadUs;
      const cores = os.availableParallelism();
      console.log(`  ${'load generator'.padEnd(24)} ${loadUs.toFixed(1).padStart(7)} µs/request  (this process: autocannon)`);
      console.log(`  ${'server + load'.padEnd(24)} ${bothUs.toFixed(1).padStart(7)} µs/request: at most ${Math.round((cores * 1e6) / bothUs)} req/s on ${cores} cores`);
      if (values.gc) printGc(gcLines, n);
    } finally {
      await server.stop();
    }
  }
} finally {
  await broker?.stop();
}
