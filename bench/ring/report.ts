/**
 * Turns run outcomes into the figures the bench reports (medians, ratios, batch sizes)
 * and renders the printed tables. Pure functions over plain data, so the JSON and the
 * tables come from the same numbers.
 */
import os from 'node:os';
import type { RunOutcome } from './harness.ts';
import type { LatencySummary } from './protocol.ts';
import { median } from '../stats.ts';

/** One case's runs reduced to what the tables and the JSON show. */
export interface CaseSummary {
  /** Median over the measured runs. */
  recordsPerSec: number;
  mbPerSec: number;
  minRecordsPerSec: number;
  maxRecordsPerSec: number;
  produced: number;
  consumed: number;
  /** Sum over runs of produced - consumed: must be 0. */
  lost: number;
  /** Runs whose lost count was not 0. */
  runsWithLoss: number;
  /** Records seen out of per-producer order (piscina: completions out of submission order). */
  orderErrors: number;
  /** Records per non-empty read pass (ring) or per non-empty pop (mutex queue). */
  avgDrainBatch: number | null;
  /** Consumer sleeps on the doorbell per run, and the share of the run spent asleep. */
  consumerSleepsPerRun: number;
  consumerIdleShare: number;
  /** Producer sleeps on a full ring / window, per run. */
  fullWaitsPerRun: number;
  lostWakeups: number;
  /** Times the consumer / all producers were preempted (descheduled), per run. */
  consumerPreemptedPerRun: number;
  producersPreemptedPerRun: number;
  runs: Array<
    Pick<
      RunOutcome,
      | 'recordsPerSec'
      | 'mbPerSec'
      | 'produced'
      | 'consumed'
      | 'lost'
      | 'orderErrors'
      | 'elapsedMs'
      | 'drainPasses'
      | 'sleeps'
      | 'sleepMs'
      | 'fullWaits'
      | 'consumerPreempted'
      | 'producersPreempted'
    >
  >;
}

/** Reduces measured runs to a CaseSummary. */
export function summariseRuns(runs: RunOutcome[]): CaseSummary {
  const sum = (f: (r: RunOutcome) => number) => runs.reduce((a, r) => a + f(r), 0);
  const passes = sum((r) => r.drainPasses);
  return {
    recordsPerSec: median(runs.map((r) => r.recordsPerSec)),
    mbPerSec: median(runs.map((r) => r.mbPerSec)),
    minRecordsPerSec: Math.min(...runs.map((r) => r.recordsPerSec)),
    maxRecordsPerSec: Math.max(...runs.map((r) => r.recordsPerSec)),
    produced: sum((r) => r.produced),
    consumed: sum((r) => r.consumed),
    lost: sum((r) => r.lost),
    runsWithLoss: runs.filter((r) => r.lost !== 0).length,
    orderErrors: sum((r) => r.orderErrors),
    avgDrainBatch: passes === 0 ? null : sum((r) => r.consumed) / passes,
    consumerSleepsPerRun: sum((r) => r.sleeps) / runs.length,
    consumerIdleShare: sum((r) => r.sleepMs) / sum((r) => r.elapsedMs),
    fullWaitsPerRun: sum((r) => r.fullWaits) / runs.length,
    lostWakeups: sum((r) => r.lostWakeups),
    consumerPreemptedPerRun: sum((r) => r.consumerPreempted) / runs.length,
    producersPreemptedPerRun: sum((r) => r.producersPreempted) / runs.length,
    runs: runs.map((r) => ({
      recordsPerSec: Math.round(r.recordsPerSec),
      mbPerSec: round(r.mbPerSec, 1),
      produced: r.produced,
      consumed: r.consumed,
      lost: r.lost,
      orderErrors: r.orderErrors,
      elapsedMs: round(r.elapsedMs, 2),
      drainPasses: r.drainPasses,
      sleeps: r.sleeps,
      sleepMs: round(r.sleepMs, 2),
      fullWaits: r.fullWaits,
      consumerPreempted: r.consumerPreempted,
      producersPreempted: r.producersPreempted,
    })),
  };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Records/s in a short human form: 15.2M, 412k. */
export function rate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e8 ? 0 : x >= 1e7 ? 1 : 2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : 1)}k`;
  return x.toFixed(0);
}

function ratio(x: number): string {
  return x >= 100 ? `${x.toFixed(0)}x` : `${x.toFixed(1)}x`;
}

/** Left-aligned first column, right-aligned others, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export interface ThroughputRow {
  producers: number;
  recordBytes: number;
  ring: CaseSummary;
  baselines: Record<string, CaseSummary & { ratio: number }>;
}

/**
 * The main table: producers x size, the ring's figures, then one cell per baseline
 * holding its rec/s and how many times faster the ring was ("509k 24.3x").
 */
export function throughputTable(rows: ThroughputRow[], baselines: { key: string; label: string }[]): string {
  const header = ['producers x size', 'ring rec/s', 'MB/s', 'batch', 'lost', ...baselines.map((b) => `${b.label} (ring/it)`)];
  const body = rows.map((r) => [
    `${String(r.producers).padStart(2)} x ${String(r.recordBytes).padStart(4)} B`,
    rate(r.ring.recordsPerSec),
    r.ring.mbPerSec.toFixed(0),
    r.ring.avgDrainBatch === null ? '-' : r.ring.avgDrainBatch.toFixed(1),
    String(r.ring.lost),
    ...baselines.map((b) => {
      const s = r.baselines[b.key];
      return s ? `${rate(s.recordsPerSec)} ${ratio(s.ratio).padStart(6)}` : '-';
    }),
  ]);
  return table(header, body);
}

/** Ring health per row: spread of the runs, consumer idle share, back-offs. */
export function ringDetailTable(rows: ThroughputRow[]): string {
  return table(
    ['producers x size', 'min rec/s', 'max rec/s', 'consumer sleeps/run', 'idle', 'full waits/run', 'lost wake-ups', 'preempted/run c+p'],
    rows.map((r) => [
      `${String(r.producers).padStart(2)} x ${String(r.recordBytes).padStart(4)} B`,
      rate(r.ring.minRecordsPerSec),
      rate(r.ring.maxRecordsPerSec),
      r.ring.consumerSleepsPerRun.toFixed(0),
      `${(r.ring.consumerIdleShare * 100).toFixed(0)}%`,
      r.ring.fullWaitsPerRun.toFixed(0),
      String(r.ring.lostWakeups),
      `${r.ring.consumerPreemptedPerRun.toFixed(0)}+${r.ring.producersPreemptedPerRun.toFixed(0)}`,
    ]),
  );
}

export interface EncodeRow {
  recordBytes: number;
  modes: Record<string, CaseSummary>;
}

export function encodeTable(rows: EncodeRow[], modes: { key: string; label: string }[]): string {
  return table(
    ['1 producer x size', ...modes.map((m) => `${m.label} rec/s`)],
    rows.map((r) => [`${String(r.recordBytes).padStart(4)} B`, ...modes.map((m) => rate(r.modes[m.key].recordsPerSec))]),
  );
}

export interface LatencyRow {
  transport: string;
  rate: number;
  /** Records per second the paced producer actually achieved. */
  achievedRate: number;
  latency: LatencySummary;
  lost: number;
  /** Times the consumer and the producer were preempted during the measured run. */
  consumerPreempted: number;
  producerPreempted: number;
}

export function latencyTable(rows: LatencyRow[]): string {
  const us = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  return table(
    ['transport (1 producer, 64 B)', 'paced rec/s', 'samples', 'p50 us', 'p99 us', 'p99.9 us', 'max us', 'lost', 'preempted c+p'],
    rows.map((r) => [
      r.transport,
      rate(r.achievedRate),
      String(r.latency.count),
      us(r.latency.p50Us),
      us(r.latency.p99Us),
      us(r.latency.p999Us),
      us(r.latency.maxUs),
      String(r.lost),
      `${r.consumerPreempted}+${r.producerPreempted}`,
    ]),
  );
}

/** The machine the figures come from. */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()}`,
    arch: os.arch(),
    totalMemMiB: Math.round(os.totalmem() / 2 ** 20),
  };
}
