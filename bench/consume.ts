/**
 * `npm run bench:consume`: how fast a consumer group delivers to VictoriaMetrics over
 * remote_write, and whether it keeps up with the gateway.
 *
 * ```
 *  drain:   log prefilled with N records (K samples each) ──▶ group of G sink-mode
 *           consumer processes ──▶ VictoriaMetrics        records/s, samples/s until lag 0
 *  follow:  autocannon ──▶ gateway (2 workers, acks 1) ──▶ log ──▶ group of G ──▶ VictoriaMetrics
 *           + a probe client: one sample at a time, from the gateway's 200 until
 *             (a) VictoriaMetrics answered 2xx to the request holding it (a
 *                 pass-through proxy in front of it notes that), and
 *             (b) VictoriaMetrics' export API returns it (polled every 20 ms, no
 *                 forced flush: what a dashboard would see)             p50/p99
 *           lag sampled every 250 ms: lag at the end of the load, max lag, drain time
 * ```
 *
 * Everything shares this machine's cores: the load generator, the gateway, the consumers
 * and VictoriaMetrics. Medians of --runs runs per row. Results go to
 * bench/results/consume-<time>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pack } from 'msgpackr';
import { parseInteger, parseSeconds, UsageError } from '../src/cli/args.ts';
import { groupLag } from '../src/consumer/create-consumer.ts';
import { LogSink } from '../src/log/log-sink.ts';
import { runLoad } from '../src/load/run-load.ts';
import { partitionFor } from '../src/records/partitioner.ts';
import { ContentType } from '../src/sink/sink.ts';
import type { SinkRecord } from '../src/sink/sink.ts';
import { postMetrics, ROOT, startGateway, tempDir } from '../test/support/gateway-process.ts';
import { startVictoriaMetrics } from '../test/support/stores.ts';
import type { VictoriaMetrics } from '../test/support/stores.ts';
import { SinkConsumerProcess } from '../test/consumer/sink-support.ts';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import snappy from 'snappy';

const { values } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h' },
    runs: { type: 'string' },
    records: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    groups: { type: 'string' },
    'follow-metrics': { type: 'string' },
    drain: { type: 'string' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
  },
});
if (values.help) {
  console.log(`Usage: npm run bench:consume -- [options]
  --runs N          runs per row, medians reported (default 3)
  --records N       drain: records in the prefilled log per row (default 50000; K=100 rows use N/20)
  --duration S      follow: seconds of gateway load (default 8)
  --connections N   follow: autocannon connections (default 20)
  --groups 1,2      group sizes (default 1,2)
  --follow-metrics 1,100  follow: metrics per request of the load (default 1,100)
  --drain 1,100     drain: samples per record (default 1,100; "none" skips the drain rows)
  --quick           1 run, small sizes (smoke test)
  --out DIR         results directory (default bench/results)`);
  process.exit(0);
}

const quick = values.quick ?? false;
let runs: number, records: number, duration: number, connections: number, groups: number[], followMetrics: number[], drainSamples: number[];
try {
  runs = parseInteger('runs', values.runs ?? (quick ? '1' : '3'), 1, 50);
  records = parseInteger('records', values.records ?? (quick ? '2000' : '50000'), 100, 10_000_000);
  duration = parseSeconds('duration', values.duration ?? (quick ? '2' : '8'));
  connections = parseInteger('connections', values.connections ?? '20', 1, 1000);
  groups = (values.groups ?? '1,2').split(',').map((g) => parseInteger('groups', g.trim(), 1, 4));
  followMetrics = (values['follow-metrics'] ?? '1,100').split(',').map((g) => parseInteger('follow-metrics', g.trim(), 1, 10_000));
  drainSamples = values.drain === 'none' ? [] : (values.drain ?? '1,100').split(',').map((g) => parseInteger('drain', g.trim(), 1, 10_000));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`bench:consume: ${e.message}`);
  process.exit(2);
}

const PARTITIONS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** CPU time (user + system) of process `pid` so far, in µs; 0 when unreadable (not Linux). */
function cpuMicros(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // /proc/<pid>/stat: fields 14 and 15 (utime, stime) in clock ticks (100 Hz), after "(comm)".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return 0;
  }
}

async function totalLag(dataDir: string, group: string): Promise<number> {
  return (await groupLag({ mode: 'log', dataDir, group })).reduce((s, l) => s + l.lag, 0);
}

function startGroup(dataDir: string, group: string, size: number, writeUrl: string, fromBeginning: boolean): SinkConsumerProcess[] {
  return Array.from({ length: size }, () =>
    new SinkConsumerProcess([
      '--data-dir', dataDir, '--group', group, ...(fromBeginning ? ['--from-beginning'] : []),
      '--sink', 'remote-write', '--sink-url', writeUrl,
    ]),
  );
}

async function stopGroup(members: SinkConsumerProcess[]): Promise<void> {
  for (const m of members) m.kill('SIGTERM');
  await Promise.all(members.map((m) => m.exited));
}

async function waitAssigned(dataDir: string, group: string, members: SinkConsumerProcess[]): Promise<void> {
  // Started at the end of the log, a member commits that offset for every partition it starts.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const lag = await groupLag({ mode: 'log', dataDir, group }).catch(() => []);
    if (settled(members) && lag.length === PARTITIONS && lag.every((l) => l.committedOffset !== null)) return;
    if (members.some((m) => !m.alive())) throw new Error(`a consumer exited: ${members.map((m) => m.describe()).join('\n')}`);
    await sleep(50);
  }
  throw new Error(`the group did not start: ${members.map((m) => m.describe()).join('\n')}`);
}

/** Whether all members report the same generation and together hold every partition. */
function settled(members: SinkConsumerProcess[]): boolean {
  const gens = members.map((m) => m.generation());
  if (gens[0] === 0 || gens.some((g) => g !== gens[0])) return false;
  return members.flatMap((m) => m.assigned() ?? []).length === PARTITIONS;
}

class TooFewRecords extends Error {}

interface DrainResult {
  recordsPerSecond: number;
  samplesPerSecond: number;
  /** CPU time per sample delivered while timed: the group's processes together, and VictoriaMetrics. */
  consumerCpuMicrosPerSample: number;
  storeCpuMicrosPerSample: number;
  seconds: number;
}

/** Prefills a log with `n` records of `k` samples, then times the group draining it. */
async function drain(vm: VictoriaMetrics, size: number, n: number, k: number, run: number): Promise<DrainResult> {
  const dataDir = await tempDir('metricstream-bench-consume-');
  const sink = new LogSink({ dataDir, partitions: PARTITIONS });
  await sink.open();
  const base = Date.now() - 3_600_000;
  for (let from = 0; from < n; from += 2000) {
    const batch: SinkRecord[] = [];
    for (let i = from; i < Math.min(n, from + 2000); i++) {
      const key = Buffer.from(`client-${i % 64}`);
      const metrics = Array.from({ length: k }, (_, j) => ({
        name: 'bench_drain',
        value: i,
        timestamp: base + i,
        tags: { client: `c${i % 64}`, j: String(j), run: `${size}-${k}-${run}` },
      }));
      batch.push({ partition: partitionFor(key, PARTITIONS), key, value: pack({ metrics }), timestamp: base + i, contentType: ContentType.msgpack });
    }
    const res = await sink.append(batch);
    if (res.error) throw new Error(res.error);
  }
  await sink.close();
  const group = `drain-${size}`;
  const members = startGroup(dataDir, group, size, vm.writeUrl, true);
  try {
    // Timed from the moment every member has its partitions (same generation, all 4
    // covered) to lag 0: process start-up and the first rebalance are excluded.
    let t1 = 0;
    let lag1 = 0;
    const cpu = () => ({ consumers: members.reduce((s, m) => s + cpuMicros(m.child.pid), 0), store: cpuMicros(vm.pid) });
    let cpu1 = cpu();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const lag = await totalLag(dataDir, group).catch(() => n);
      if (t1 === 0 && settled(members)) {
        t1 = performance.now();
        lag1 = lag;
        cpu1 = cpu();
      }
      if (lag === 0 && t1 !== 0) break;
      if (Date.now() > deadline) {
        const lags = await groupLag({ mode: 'log', dataDir, group });
        throw new Error(`drain did not finish: ${JSON.stringify(lags)}\n${members.map((m) => m.describe()).join('\n')}`);
      }
      if (members.some((m) => !m.alive())) throw new Error(`a consumer exited: ${members.map((m) => m.describe()).join('\n')}`);
      await sleep(20);
    }
    const seconds = (performance.now() - t1) / 1000;
    const cpu2 = cpu();
    if (lag1 === 0) throw new TooFewRecords(`drain: the group finished before it settled; use more --records than ${n}`);
    return {
      recordsPerSecond: lag1 / seconds,
      samplesPerSecond: (lag1 * k) / seconds,
      consumerCpuMicrosPerSample: (cpu2.consumers - cpu1.consumers) / (lag1 * k),
      storeCpuMicrosPerSample: (cpu2.store - cpu1.store) / (lag1 * k),
      seconds,
    };
  } finally {
    await stopGroup(members);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * drain() with more records when the group drained everything before its second member
 * joined (nothing left to time): up to 16 times the records.
 */
async function drainSettled(vm: VictoriaMetrics, size: number, n: number, k: number, run: number): Promise<DrainResult & { records: number }> {
  for (let records = n; ; records *= 4) {
    try {
      return { ...(await drain(vm, size, records, k, run)), records };
    } catch (err) {
      if (!(err instanceof TooFewRecords) || records >= 16 * n) throw err;
    }
  }
}

/** Probe values: far from the load's values (50..99), so their bytes are unique in a request. */
const PROBE_BASE = 1e9;

/**
 * A pass-through proxy in front of VictoriaMetrics that notes when the store answered 2xx
 * to a request holding probe sample `seq` (found by its encoded value in the protobuf).
 */
async function startProbeProxy(vm: VictoriaMetrics): Promise<{ url: string; acceptedAt: Map<number, number>; watch: Set<number>; close(): Promise<void> }> {
  const acceptedAt = new Map<number, number>();
  const watch = new Set<number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      try {
        const up = await fetch(vm.writeUrl, { method: 'POST', headers, body });
        const text = await up.text();
        if (up.ok && watch.size > 0) {
          const raw = snappy.uncompressSync(body) as Buffer;
          for (const seq of watch) {
            const needle = Buffer.alloc(9);
            needle[0] = 0x09;
            needle.writeDoubleLE(PROBE_BASE + seq, 1);
            if (raw.includes(needle)) {
              acceptedAt.set(seq, performance.now());
              watch.delete(seq);
            }
          }
        }
        res.writeHead(up.status);
        res.end(text);
      } catch (err) {
        res.writeHead(502);
        res.end((err as Error).message);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`,
    acceptedAt,
    watch,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface FollowResult {
  metricsPerRequest: number;
  ingestRecordsPerSecond: number;
  deliveredRecordsPerSecond: number;
  lagAtEnd: number;
  maxLag: number;
  drainSeconds: number;
  /** Probes: from the gateway's 200 until VictoriaMetrics' export returns the sample (ms). */
  latencies: number[];
  /** From the gateway's 200 to VictoriaMetrics' 2xx for the request holding the sample (ms). */
  accepted: number[];
}

/** Gateway under autocannon load, the group following; probes measure the end-to-end latency. */
async function follow(vm: VictoriaMetrics, size: number, k: number, run: number): Promise<FollowResult> {
  const dataDir = await tempDir('metricstream-bench-follow-');
  const gateway = await startGateway(['--data-dir', dataDir, '--workers', '2', '--partitions', String(PARTITIONS)]);
  const group = `follow-${size}`;
  const proxy = await startProbeProxy(vm);
  const members = startGroup(dataDir, group, size, proxy.url, false);
  try {
    await waitAssigned(dataDir, group, members);
    const lags: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        lags.push(await totalLag(dataDir, group).catch(() => 0));
        await sleep(250);
      }
    })();
    const latencies: number[] = [];
    const accepted: number[] = [];
    let probing = true;
    const tag = `${size}-${run}-${Date.now()}`;
    /** Probes answered 200 and not yet seen in the store: seq -> time of the 200. */
    const pending = new Map<number, number>();
    // One probe every 100 ms, each on its own; a poller looks for all pending ones at once.
    const prober = (async () => {
      const sends: Promise<void>[] = [];
      for (let seq = 0; probing; seq++) {
        proxy.watch.add(seq);
        sends.push(
          postMetrics(gateway.port, 'bench-probe', { metrics: [{ name: 'bench_probe', value: PROBE_BASE + seq, tags: { probe: tag } }] }).then((res) => {
            if (res.status === 200) pending.set(seq, performance.now());
          }),
        );
        await sleep(100);
      }
      await Promise.all(sends);
    })();
    let polling = true;
    const poller = (async () => {
      while (polling || pending.size > 0) {
        const series = await vm.export(`bench_probe{probe="${tag}"}`, false);
        const now = performance.now();
        for (const v of series.flatMap((x) => x.values)) {
          const seq = Number(v) - PROBE_BASE;
          const acked = pending.get(seq);
          if (acked === undefined) continue;
          pending.delete(seq);
          if (seq === 0) continue; // the first probe creates the series: VictoriaMetrics' index, not the pipeline
          latencies.push(now - acked);
          const at = proxy.acceptedAt.get(seq);
          if (at !== undefined) accepted.push(Math.max(0, at - acked));
        }
        await sleep(20);
      }
    })();
    const startLag = await totalLag(dataDir, group);
    const endsBefore = (await groupLag({ mode: 'log', dataDir, group })).reduce((s, l) => s + (l.committedOffset ?? 0), 0);
    const load = await runLoad({ port: gateway.port, host: '127.0.0.1', clients: connections, durationSeconds: duration, metricsPerRequest: k });
    const lagEnd = await groupLag({ mode: 'log', dataDir, group });
    const lagAtEnd = lagEnd.reduce((s, l) => s + l.lag, 0);
    const committedAfter = lagEnd.reduce((s, l) => s + (l.committedOffset ?? 0), 0);
    const loadEnd = performance.now();
    probing = false;
    await prober;
    polling = false;
    const probeDeadline = Date.now() + 60_000;
    while (pending.size > 0 && Date.now() < probeDeadline) await sleep(50);
    if (pending.size > 0) throw new Error(`${pending.size} probes never became visible`);
    await poller;
    const deadline = Date.now() + 300_000;
    while ((await totalLag(dataDir, group)) > 0) {
      if (Date.now() > deadline) throw new Error('the group did not catch up');
      await sleep(50);
    }
    const drainSeconds = (performance.now() - loadEnd) / 1000;
    sampling = false;
    await sampler;
    return {
      metricsPerRequest: k,
      ingestRecordsPerSecond: load.requestsPerSecond,
      deliveredRecordsPerSecond: (committedAfter - endsBefore) / load.elapsedSeconds,
      lagAtEnd: lagAtEnd - startLag,
      maxLag: Math.max(0, ...lags),
      drainSeconds,
      latencies,
      accepted,
    };
  } finally {
    await stopGroup(members);
    await proxy.close();
    await gateway.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');

async function main(): Promise<void> {
  const vmRoot = await tempDir('metricstream-bench-vm-');
  const vm = await startVictoriaMetrics(vmRoot);
  const result: Record<string, unknown> = {
    when: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
    options: { runs, records, duration, connections, groups, followMetrics, drainSamples },
    drain: [] as unknown[],
    follow: [] as unknown[],
  };
  try {
    console.log(`bench:consume: ${runs} run(s) per row; VictoriaMetrics ${vm.base}`);
    console.log('\ndrain (prefilled log → group → VictoriaMetrics)');
    console.log('| group | samples/record | records | records/s | samples/s | consumer CPU µs/sample | VictoriaMetrics CPU µs/sample |');
    console.log('|--:|--:|--:|--:|--:|--:|--:|');
    for (const k of drainSamples) {
      const n = k === 1 ? records : Math.max(100, Math.floor(records / 20));
      for (const size of groups) {
        const rs: (DrainResult & { records: number })[] = [];
        for (let r = 0; r < runs; r++) rs.push(await drainSettled(vm, size, n, k, r));
        const row = { group: size, samplesPerRecord: k, records: median(rs.map((x) => x.records)), runs: rs, recordsPerSecond: median(rs.map((x) => x.recordsPerSecond)), samplesPerSecond: median(rs.map((x) => x.samplesPerSecond)),
          consumerCpuMicrosPerSample: median(rs.map((x) => x.consumerCpuMicrosPerSample)),
          storeCpuMicrosPerSample: median(rs.map((x) => x.storeCpuMicrosPerSample)),
        };
        (result.drain as unknown[]).push(row);
        console.log(`| ${size} | ${k} | ${fmt(row.records)} | ${fmt(row.recordsPerSecond)} | ${fmt(row.samplesPerSecond)} | ${fmt(row.consumerCpuMicrosPerSample, 2)} | ${fmt(row.storeCpuMicrosPerSample, 2)} |`);
      }
    }
    console.log(`\nfollow (autocannon ${connections} connections × ${duration} s → gateway --workers 2, acks 1 → group → VictoriaMetrics)`);
    console.log('| group | metrics/request | gateway records/s | delivered records/s | gateway samples/s | delivered samples/s | lag at end of load | max lag | drained after (s) | probes | 200 → store 2xx p50 / p99 ms | 200 → queryable p50 / p99 ms | keeps up |');
    console.log('|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|');
    for (const k of followMetrics) {
      for (const size of groups) {
        const rs: FollowResult[] = [];
        for (let r = 0; r < runs; r++) rs.push(await follow(vm, size, k, r));
        const m = (f: (x: FollowResult) => number) => median(rs.map(f));
        const row = {
          group: size,
          metricsPerRequest: k,
          runs: rs,
          ingestRecordsPerSecond: m((x) => x.ingestRecordsPerSecond),
          deliveredRecordsPerSecond: m((x) => x.deliveredRecordsPerSecond),
          lagAtEnd: m((x) => x.lagAtEnd),
          maxLag: m((x) => x.maxLag),
          drainSeconds: m((x) => x.drainSeconds),
          // Latencies pooled over the runs (a few dozen probes per run).
          probes: rs.reduce((n, x) => n + x.latencies.length, 0),
          latencyP50Ms: percentile(rs.flatMap((x) => x.latencies), 50),
          latencyP99Ms: percentile(rs.flatMap((x) => x.latencies), 99),
          acceptedP50Ms: percentile(rs.flatMap((x) => x.accepted), 50),
          acceptedP99Ms: percentile(rs.flatMap((x) => x.accepted), 99),
        };
        // Keeps up: delivered at least 95% of the ingest rate during the load, and the lag left
        // at its end is below one second of ingest.
        const keepsUp = row.deliveredRecordsPerSecond >= 0.95 * row.ingestRecordsPerSecond && row.lagAtEnd < row.ingestRecordsPerSecond;
        (result.follow as unknown[]).push({ ...row, keepsUp });
        console.log(
          `| ${size} | ${k} | ${fmt(row.ingestRecordsPerSecond)} | ${fmt(row.deliveredRecordsPerSecond)} | ${fmt(row.ingestRecordsPerSecond * k)} | ${fmt(row.deliveredRecordsPerSecond * k)} | ${fmt(row.lagAtEnd)} | ${fmt(row.maxLag)} | ${fmt(row.drainSeconds, 2)} | ${row.probes} | ${fmt(row.acceptedP50Ms, 1)} / ${fmt(row.acceptedP99Ms, 1)} | ${fmt(row.latencyP50Ms, 1)} / ${fmt(row.latencyP99Ms, 1)} | ${keepsUp ? 'yes' : 'no'} |`,
        );
      }
    }
  } finally {
    await vm.destroy();
    await rm(vmRoot, { recursive: true, force: true });
  }
  const outDir = path.resolve(ROOT, values.out ?? 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `consume-${(result.when as string).replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nresults: ${path.relative(ROOT, file)}`);
}

main().catch((err: Error) => {
  console.error(`bench:consume: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
