/**
 * `npm run bench:wake`: what one wake-up costs the thread that sleeps, with
 * Atomics.waitAsync's own timeout (the ring's former durable watcher and doorbell) and
 * with src/ring/async-waiter.ts (no timeout, one interval per waiter).
 *
 * ```
 *   main thread (pinger)                         worker thread (the sleeper, timed)
 *   ─────────────────────                        ─────────────────────────────────
 *   store PING=i, notify PING  ───────────────▶  wakes from its async wait on PING
 *   Atomics.wait on PONG       ◀───────────────  store PONG=i, notify PONG; waits again
 * ```
 *
 * The sleeper is a worker with an event loop, like a gateway HTTP worker waiting for its
 * durable cursor. Per case it reports round trips per second and the sleeper's CPU per
 * wake-up (process.threadCpuUsage inside it). Cases run in turns (A B A B ...), --runs
 * of --seconds each; medians, and the ratio of the two CPU figures from this run. A run
 * must outlast the timeout several times over: a waitAsync timer costs most when it
 * fires, a timeout after the wait it belonged to ended.
 *
 *   npm run bench:wake -- [--runs 5] [--seconds 4]
 */
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { AsyncWaiter } from '../src/ring/async-waiter.ts';

const PING = 0;
const PONG = 1;
const DONE = -1;
/** The safety-net period of both cases: the ring writer's WATCH_TIMEOUT_MS. */
const PERIOD_MS = 1000;

type Case = 'waitAsync timeout' | 'AsyncWaiter';
const CASES: Case[] = ['waitAsync timeout', 'AsyncWaiter'];

if (isMainThread) await main();
else await sleeper(workerData as { sab: SharedArrayBuffer; kind: Case });

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, seconds: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log('Usage: npm run bench:wake -- [--runs 5] [--seconds 4]');
    return;
  }
  const runs = positive('runs', values.runs ?? '5');
  const seconds = positive('seconds', values.seconds ?? '4');
  const results = new Map<Case, { perSecond: number; cpuUs: number }[]>(CASES.map((c) => [c, []]));
  for (let r = 0; r < runs; r++) {
    for (const kind of CASES) results.get(kind)!.push(await run(kind, seconds));
  }
  console.log(`bench:wake: ${runs} runs x ${seconds} s per case, in turns; timeout and safety-net period ${PERIOD_MS} ms; medians`);
  console.log('| sleeper waits with | round trips/s | sleeper CPU per wake-up |');
  console.log('|---|--:|--:|');
  const medians = new Map<Case, number>();
  for (const kind of CASES) {
    const rs = results.get(kind)!;
    const cpu = median(rs.map((x) => x.cpuUs));
    medians.set(kind, cpu);
    console.log(`| ${kind} | ${Math.round(median(rs.map((x) => x.perSecond))).toLocaleString('en-US')} | ${cpu.toFixed(1)} µs |`);
  }
  const ratio = medians.get('AsyncWaiter')! / medians.get('waitAsync timeout')!;
  console.log(`AsyncWaiter / waitAsync timeout, sleeper CPU per wake-up: ${ratio.toFixed(2)}x`);
}

/** One run of `seconds` of round trips through a fresh sleeper; its CPU per wake-up. */
async function run(kind: Case, seconds: number): Promise<{ perSecond: number; cpuUs: number }> {
  const sab = new SharedArrayBuffer(8);
  const words = new Int32Array(sab);
  const worker = new Worker(new URL(import.meta.url), { workerData: { sab, kind } });
  await new Promise((resolve) => worker.once('message', resolve));
  const cpu = new Promise<number>((resolve) => worker.once('message', resolve));
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  while ((n & 255) !== 0 || performance.now() < end) {
    n++;
    Atomics.store(words, PING, n);
    Atomics.notify(words, PING);
    while (Atomics.load(words, PONG) !== n) Atomics.wait(words, PONG, n - 1, 100);
  }
  const elapsed = (performance.now() - start) / 1000;
  Atomics.store(words, PING, DONE);
  Atomics.notify(words, PING);
  const cpuUs = await cpu;
  await worker.terminate();
  return { perSecond: n / elapsed, cpuUs: cpuUs / n };
}

async function sleeper({ sab, kind }: { sab: SharedArrayBuffer; kind: Case }): Promise<void> {
  const words = new Int32Array(sab);
  const waiter = kind === 'AsyncWaiter' ? new AsyncWaiter(words, PING, PERIOD_MS) : undefined;
  // waitAsync alone does not keep the loop alive; AsyncWaiter refs its own interval.
  const keepAlive = waiter === undefined ? setInterval(() => {}, 1 << 30) : undefined;
  parentPort!.postMessage('ready');
  const before = process.threadCpuUsage();
  let seen = 0;
  for (;;) {
    if (waiter !== undefined) await waiter.wait(seen);
    else {
      const result = Atomics.waitAsync(words, PING, seen, PERIOD_MS);
      if (result.async) await result.value;
    }
    seen = Atomics.load(words, PING);
    if (seen === DONE) break;
    Atomics.store(words, PONG, seen);
    Atomics.notify(words, PONG);
  }
  const used = process.threadCpuUsage(before);
  clearInterval(keepAlive);
  waiter?.close();
  parentPort!.postMessage(used.user + used.system);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${raw}`);
    process.exit(2);
  }
  return n;
}
