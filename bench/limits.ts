/**
 * `npm run bench:limits`: what a per-tenant rate-limit check costs a worker, for the two
 * designs the issue names:
 *
 * - shared: the gateway's RateLimiter, one GCRA word per bucket in a SharedArrayBuffer,
 *   one compare-and-swap per bucket per request, every worker on the same words;
 * - per-worker share: each worker keeps a plain local bucket with 1/N of the rate (no
 *   atomics; the owner would rebalance the shares now and then, not measured: it is off
 *   the hot path), the model of "per-worker shares rebalanced by the owner".
 *
 * N threads each run `--ops` checks (samples and bytes buckets, never refused so every
 * check writes) on one tenant (the contended case) or one tenant per thread. Prints ns
 * per check, the median of `--runs`.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createRateLimitStorage, RateLimiter } from '../src/auth/rate-limiter.ts';

interface Job {
  kind: 'shared' | 'local';
  storage: SharedArrayBuffer;
  slot: number;
  ops: number;
  start: SharedArrayBuffer;
}

const HUGE = { samplesPerSecond: 1e15, bytesPerSecond: 1e15, burstSeconds: 1 };

/** A worker-local GCRA bucket on plain numbers: the per-worker-share design's hot path. */
class LocalBucket {
  tatSamples = 0;
  tatBytes = 0;
  take(samples: number, bytes: number, rate: number, burstMs: number): number {
    const now = performance.now();
    const s = Math.max(this.tatSamples, now) + (samples * 1000) / rate;
    if (s - now > burstMs) return s - burstMs - now;
    const b = Math.max(this.tatBytes, now) + (bytes * 1000) / rate;
    if (b - now > burstMs) return b - burstMs - now;
    this.tatSamples = s;
    this.tatBytes = b;
    return 0;
  }
}

function runJob(job: Job): number {
  const start = new Int32Array(job.start);
  Atomics.add(start, 1, 1);
  while (Atomics.load(start, 0) === 0); // all threads start together (bench only)
  let refused = 0;
  const t0 = process.hrtime.bigint();
  if (job.kind === 'shared') {
    const limiter = new RateLimiter(job.storage);
    for (let i = 0; i < job.ops; i++) refused += limiter.take(job.slot, HUGE, 10, 400);
  } else {
    const bucket = new LocalBucket();
    for (let i = 0; i < job.ops; i++) refused += bucket.take(10, 400, 1e15, 1000);
  }
  const ns = Number(process.hrtime.bigint() - t0) / job.ops;
  if (refused !== 0) throw new Error('a check refused; the bench wants every check to write');
  return ns;
}

if (!isMainThread) {
  parentPort!.postMessage(runJob(workerData as Job));
} else {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    return i === -1 ? fallback : Number(args[i + 1]);
  };
  const ops = flag('ops', 2_000_000);
  const runs = flag('runs', 5);
  const rows: { case: string; threads: number; nsPerCheck: number }[] = [];
  for (const threads of [1, 2, 4]) {
    for (const [label, kind, sameTenant] of [
      ['shared GCRA, one tenant', 'shared', true],
      ['shared GCRA, tenant per thread', 'shared', false],
      ['per-worker share (local)', 'local', false],
    ] as const) {
      const results: number[] = [];
      for (let r = 0; r < runs; r++) {
        const storage = createRateLimitStorage(threads);
        const start = new SharedArrayBuffer(8);
        const workers = Array.from({ length: threads }, (_, t) => new Worker(new URL(import.meta.url), { workerData: { kind, storage, slot: sameTenant ? 0 : t, ops, start } satisfies Job }));
        const done = workers.map((w) => new Promise<number>((resolve, reject) => (w.once('message', resolve), w.once('error', reject))));
        const s = new Int32Array(start);
        while (Atomics.load(s, 1) < threads) await new Promise((r) => setTimeout(r, 1));
        Atomics.store(s, 0, 1);
        const ns = await Promise.all(done);
        results.push(ns.reduce((a, b) => a + b, 0) / ns.length);
      }
      results.sort((a, b) => a - b);
      rows.push({ case: label, threads, nsPerCheck: +results[results.length >> 1].toFixed(1) });
    }
  }
  console.log('case                              threads  ns/check (median of runs, mean over threads)');
  for (const r of rows) console.log(`${r.case.padEnd(34)}${String(r.threads).padStart(7)}  ${r.nsPerCheck}`);
  if (args.includes('--json')) console.log(JSON.stringify(rows));
}
