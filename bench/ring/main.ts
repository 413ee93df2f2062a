/**
 * `npm run bench:ring`: N producer threads → one consumer thread, through the SPSC rings
 * of src/ring and through the baselines a user would otherwise pick.
 *
 * ```
 *   throughput, per (producers N, record size):
 *
 *   ring             P0 ─▶ [ring 0] ─┐
 *                    P1 ─▶ [ring 1] ─┼─▶ consumer (read, copy out, complete, publish)
 *                    PN ─▶ [ring N] ─┘
 *   postMessage      P0..PN ══ MessageChannel per producer ══▶ consumer ('message' events)
 *   mutexQueue       P0..PN ─▶ lock ─▶ [one shared SAB queue] ─▶ lock ─▶ consumer
 *   piscina          dispatcher (N submitters) ══ pool.run per record ══▶ 1 pool thread
 *
 *   latency: one producer paced at --latency-rate, write time stamped in the record,
 *            consumer records read time - write time in a histogram
 * ```
 *
 * Every case runs one warm-up run and --runs measured runs of --duration-ms each; a run
 * is timed from GO until the consumer has taken the last record, and each run checks
 * records consumed == records produced. Figures are medians. Tables go to stdout, JSON
 * to bench/results/ring-<timestamp>.json and ring-latest.json (or --out). Exit status:
 * 0 when every case completed without losing a record, 1 otherwise, 2 on a usage error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { USAGE, UsageError, parseBenchArgs, type BenchOptions } from './args.ts';
import * as mutexQueue from './cases/mutex-queue.ts';
import * as piscina from './cases/piscina.ts';
import * as postMessage from './cases/post-message.ts';
import * as ring from './cases/ring.ts';
import { absoluteNow } from './control.ts';
import { runCase, type CaseDefinition } from './harness.ts';
import type { CaseParams } from './protocol.ts';
import {
  encodeTable,
  latencyTable,
  machineInfo,
  rate,
  ringDetailTable,
  round,
  summariseRuns,
  throughputTable,
  type CaseSummary,
  type EncodeRow,
  type LatencyRow,
  type ThroughputRow,
} from './report.ts';

const caseUrl = (file: string) => new URL(`./cases/${file}`, import.meta.url);

const RING: CaseDefinition = { key: 'ring', label: 'ring', module: caseUrl('ring.ts'), wire: ring.wire };
const BASELINES: Record<string, CaseDefinition> = {
  postMessageBytes: {
    key: 'postMessageBytes',
    label: 'postMessage bytes',
    module: caseUrl('post-message.ts'),
    wire: (p) => postMessage.wire(p, 'bytes'),
  },
  postMessageObject: {
    key: 'postMessageObject',
    label: 'postMessage object',
    module: caseUrl('post-message.ts'),
    wire: (p) => postMessage.wire(p, 'object'),
  },
  mutexQueue: { key: 'mutexQueue', label: 'mutex queue', module: caseUrl('mutex-queue.ts'), wire: mutexQueue.wire },
  piscina: { key: 'piscina', label: 'piscina', module: caseUrl('piscina.ts'), wire: piscina.wire },
};
const ENCODE_MODES: { key: CaseParams['encode']; label: string }[] = [
  { key: 'copy', label: 'template copy' },
  { key: 'fill-copy', label: 'encode+copy' },
  { key: 'in-place', label: 'encode in place' },
];
/** The latency test always uses this record size. */
const LATENCY_RECORD_BYTES = 64;

interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | null;
}

function log(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function progress(label: string, p: CaseParams, s: CaseSummary): void {
  const batch = s.avgDrainBatch === null ? '' : `  batch ${s.avgDrainBatch.toFixed(1)}`;
  log(
    `  ${label.padEnd(18)} ${String(p.producers).padStart(2)} x ${String(p.recordBytes).padStart(4)} B  ` +
      `${rate(s.recordsPerSec).padStart(6)} rec/s  ${s.mbPerSec.toFixed(0).padStart(5)} MB/s  ` +
      `(runs ${rate(s.minRecordsPerSec)}..${rate(s.maxRecordsPerSec)})${batch}  lost ${s.lost}` +
      (s.orderErrors ? `  out-of-order ${s.orderErrors}` : ''),
  );
}

async function throughput(options: BenchOptions, clockBase: number): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  const runOpts = { runs: options.runs, durationMs: options.durationMs, warmupMs: options.warmupMs };
  for (const producers of options.producers) {
    for (const recordBytes of options.sizes) {
      const params: CaseParams = {
        producers,
        recordBytes,
        ringBytes: options.ringBytes,
        mode: 'throughput',
        paceRate: 0,
        encode: 'copy',
        consumerSpinUs: options.consumerSpinUs,
        fullWait: options.fullWait,
        clockBase,
      };
      const ringSummary = summariseRuns((await runCase(RING, params, runOpts)).runs);
      progress('ring', params, ringSummary);
      const row: ThroughputRow = { producers, recordBytes, ring: ringSummary, baselines: {} };
      for (const key of options.baselines) {
        const def = BASELINES[key];
        const s = summariseRuns((await runCase(def, params, runOpts)).runs);
        progress(def.label, params, s);
        row.baselines[key] = { ...s, ratio: ringSummary.recordsPerSec / s.recordsPerSec };
      }
      rows.push(row);
    }
  }
  return rows;
}

async function encodeComparison(options: BenchOptions, clockBase: number): Promise<EncodeRow[]> {
  const rows: EncodeRow[] = [];
  for (const recordBytes of options.sizes) {
    const row: EncodeRow = { recordBytes, modes: {} };
    for (const mode of ENCODE_MODES) {
      const params: CaseParams = {
        producers: 1,
        recordBytes,
        ringBytes: options.ringBytes,
        mode: 'throughput',
        paceRate: 0,
        encode: mode.key,
        consumerSpinUs: options.consumerSpinUs,
        fullWait: options.fullWait,
        clockBase,
      };
      const runOpts = { runs: options.runs, durationMs: options.durationMs, warmupMs: options.warmupMs };
      const s = summariseRuns((await runCase(RING, params, runOpts)).runs);
      progress(`ring ${mode.key}`, params, s);
      row.modes[mode.key] = s;
    }
    rows.push(row);
  }
  return rows;
}

async function latency(options: BenchOptions, clockBase: number): Promise<LatencyRow[]> {
  const cases: { transport: string; def: CaseDefinition; spinUs: number }[] = [
    { transport: `ring (consumer lingers ${options.consumerSpinUs} us)`, def: RING, spinUs: options.consumerSpinUs },
  ];
  if (options.consumerSpinUs !== 0) cases.push({ transport: 'ring (consumer sleeps at once)', def: RING, spinUs: 0 });
  for (const key of ['postMessageBytes', 'postMessageObject', 'mutexQueue']) {
    if (options.baselines.includes(key)) cases.push({ transport: BASELINES[key].label, def: BASELINES[key], spinUs: options.consumerSpinUs });
  }
  const rows: LatencyRow[] = [];
  for (const c of cases) {
    const params: CaseParams = {
      producers: 1,
      recordBytes: LATENCY_RECORD_BYTES,
      ringBytes: options.ringBytes,
      mode: 'latency',
      paceRate: options.latencyRate,
      encode: 'copy',
      consumerSpinUs: c.spinUs,
      fullWait: options.fullWait,
      clockBase,
    };
    const { runs } = await runCase(c.def, params, { runs: 1, durationMs: options.latencyMs, warmupMs: Math.min(500, options.latencyMs) });
    const run = runs[0];
    const row: LatencyRow = {
      transport: c.transport,
      rate: options.latencyRate,
      achievedRate: (run.produced / run.elapsedMs) * 1000,
      latency: run.latency!,
      lost: run.lost,
      consumerPreempted: run.consumerPreempted,
      producerPreempted: run.producersPreempted,
    };
    log(
      `  latency ${c.transport.padEnd(32)} p50 ${row.latency.p50Us.toFixed(1)} us  p99 ${row.latency.p99Us.toFixed(1)} us  ` +
        `p99.9 ${row.latency.p999Us.toFixed(1)} us  (${rate(row.achievedRate)} rec/s, preempted ${row.consumerPreempted}+${row.producerPreempted})`,
    );
    rows.push(row);
  }
  return rows;
}

function goals(rows: ThroughputRow[], latencyRows: LatencyRow[]): Goal[] {
  const out: Goal[] = [];
  const row = (p: number, s: number) => rows.find((r) => r.producers === p && r.recordBytes === s);
  const one = row(1, 64);
  if (one) {
    out.push({ goal: '1 producer, 64 B', target: '>= 15M rec/s', measured: `${rate(one.ring.recordsPerSec)} rec/s`, met: one.ring.recordsPerSec >= 15e6 });
  }
  for (const key of ['postMessageBytes', 'postMessageObject']) {
    const ratios = rows.filter((r) => r.baselines[key]).map((r) => ({ r, ratio: r.baselines[key].ratio }));
    if (ratios.length === 0) continue;
    const worst = ratios.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    out.push({
      goal: `ring vs ${BASELINES[key].label}, every row`,
      target: '>= 30x',
      measured: `min ${worst.ratio.toFixed(1)}x (${worst.r.producers} x ${worst.r.recordBytes} B)`,
      met: worst.ratio >= 30,
    });
  }
  const sixteen = row(16, 64);
  if (sixteen) {
    out.push({
      goal: '16 producers, 64 B, no loss',
      target: '>= 10M rec/s, lost 0',
      measured: `${rate(sixteen.ring.recordsPerSec)} rec/s, lost ${sixteen.ring.lost}`,
      met: sixteen.ring.recordsPerSec >= 10e6 && sixteen.ring.lost === 0,
    });
  }
  const lost = rows.reduce((a, r) => a + r.ring.lost, 0);
  out.push({ goal: 'ring: records consumed == produced, every run', target: 'lost 0', measured: `lost ${lost}`, met: lost === 0 });
  const lat = latencyRows[0];
  if (lat) {
    out.push({
      goal: `write->read p99 at ${rate(lat.rate)} rec/s, ${lat.transport}`,
      target: '< 50 us',
      measured: `${lat.latency.p99Us.toFixed(1)} us`,
      met: lat.latency.p99Us < 50,
    });
  }
  return out;
}

async function main(): Promise<number> {
  let options: BenchOptions | null;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === null) {
    log(USAGE);
    return 0;
  }
  const machine = machineInfo();
  const startedAt = new Date();
  const clockBase = absoluteNow();
  const loadBefore = os.loadavg();
  log(`bench:ring  ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, load ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`);
  log(
    `runs ${options.runs} x ${options.durationMs} ms (+1 warm-up), producers ${options.producers.join(',')}, sizes ${options.sizes.join(',')} B, ` +
      `ring ${options.ringBytes / 1024} KiB/producer, consumer linger ${options.consumerSpinUs} us, full ring: ${options.fullWait}, baselines ${options.baselines.join(',') || 'none'}`,
  );
  log();
  log('throughput');
  const rows = await throughput(options, clockBase);
  let encodeRows: EncodeRow[] = [];
  if (options.encodeTable) {
    log();
    log('encode in place vs copy (ring, 1 producer)');
    encodeRows = await encodeComparison(options, clockBase);
  }
  log();
  log('latency');
  const latencyRows = await latency(options, clockBase);
  const goalList = goals(rows, latencyRows);
  const finishedAt = new Date();

  const baselineCols = options.baselines.map((k) => ({ key: k, label: BASELINES[k].label }));
  log();
  log(`Throughput (median of ${options.runs} runs of ${options.durationMs} ms each)`);
  log('  rec/s = records consumed / (GO -> last record consumed); MB/s = payload bytes (10^6) per s;');
  log('  batch = records per non-empty ring read pass; baseline cells: its rec/s and ring rec/s / its rec/s');
  log(throughputTable(rows, baselineCols));
  log();
  log('Ring detail (runs spread; consumer sleeps on the doorbell per run and share of time asleep; producer waits on a full ring per run)');
  log(ringDetailTable(rows));
  if (encodeRows.length) {
    log();
    log('Encode: template copy = tryWrite of a ready record; encode+copy = write every word to a private buffer, then tryWrite; encode in place = the same words straight into tryClaim space');
    log(encodeTable(encodeRows, ENCODE_MODES));
  }
  log();
  log(`Write->read latency (1 producer paced at ${rate(options.latencyRate)} rec/s for ${options.latencyMs} ms after a warm-up)`);
  log(latencyTable(latencyRows));
  log();
  log('Goals (figures from this run, this machine)');
  for (const g of goalList) log(`  ${g.met === null ? '?' : g.met ? 'met ' : 'MISS'}  ${g.goal}: ${g.measured} (target ${g.target})`);

  const report = {
    benchmark: 'bench:ring',
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    elapsedSeconds: round((finishedAt.getTime() - startedAt.getTime()) / 1000, 1),
    command: `node ${process.execArgv.join(' ')} ${process.argv.slice(1).join(' ')}`.trim(),
    machine: { ...machine, loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg() },
    options,
    notes: {
      ring: 'acks=0 style: producers register no durable callback; the consumer copies each record out, completes it and publishes once per drained pass.',
      postMessage: 'one message per record; each producer may have as many unconsumed messages in flight as its ring would hold records (credit counter).',
      mutexQueue: 'one futex mutex around one shared SAB byte queue; the consumer copies out everything queued per lock acquisition.',
      piscina: `one dispatcher thread with N submitters, ${piscina.PISCINA_WINDOW} tasks in flight in total, pool of 1 thread; orderErrors counts completions out of submission order (piscina does not keep order).`,
      backoff:
        'all producers facing a full ring/queue/window first spin 4x with Atomics.pause. Then ring producers with fullWait=wake sleep on the ring\'s DURABLE word (WRITER_WAITS set) until the consumer publishes a drained pass; everyone else sleeps on a private word 5 us doubling to 1 ms.',
      consumerLinger: 'ring and mutex-queue consumers that find nothing keep looking every ~1 us for consumerSpinUs before sleeping on the doorbell.',
    },
    throughput: rows,
    encode: encodeRows,
    latency: latencyRows,
    goals: goalList,
  };
  const outDir = options.outDir === 'bench/results' ? fileURLToPath(new URL('../results/', import.meta.url)) : resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const stamped = join(outDir, `ring-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(stamped, json);
  writeFileSync(join(outDir, 'ring-latest.json'), json);
  log();
  log(`wrote ${stamped} and ring-latest.json (${report.elapsedSeconds} s, load average now ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);

  const lossy = [
    ...rows.flatMap((r) => [['ring', r.ring] as const, ...Object.entries(r.baselines)]),
    ...encodeRows.flatMap((r) => Object.entries(r.modes)),
  ].filter(([, s]) => s.lost !== 0);
  const latencyLoss = latencyRows.filter((r) => r.lost !== 0);
  if (lossy.length || latencyLoss.length) {
    process.stderr.write(`records lost in: ${[...lossy.map(([k]) => k), ...latencyLoss.map((r) => r.transport)].join(', ')}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
