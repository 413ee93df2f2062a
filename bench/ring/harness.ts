/**
 * Runs one case on the main thread's behalf: starts its consumer and producer threads,
 * then for a warm-up run and each measured run arms the consumer, releases the
 * producers (GO), stops them after the run's duration (STOP) and waits until the
 * consumer has drained every record they wrote. A run's time is GO → last record
 * consumed, so a backlog left at STOP counts against the transport, not for it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Worker, type TransferListItem } from 'node:worker_threads';
import { RunControl, createControlStorage, MAX_PRODUCERS } from './control.ts';
import type { CaseParams, ConsumerResult, FromWorker, ToWorker, WorkerInit, Wiring } from './protocol.ts';

const WORKER_URL = new URL('./worker.ts', import.meta.url);
/** Longest wait for a thread to start, arm, or finish draining after STOP. */
const REPLY_TIMEOUT_MS = 120_000;

/** A transport under test: its module (run in the threads) and its wiring. */
export interface CaseDefinition {
  /** Key in the JSON output, e.g. "ring", "postMessageBytes". */
  key: string;
  /** Column heading in the table. */
  label: string;
  module: URL;
  wire(params: CaseParams): Wiring;
}

/** One measured (or warm-up) run, as the tables and JSON report it. */
export interface RunOutcome extends ConsumerResult {
  elapsedMs: number;
  recordsPerSec: number;
  mbPerSec: number;
  /** produced - consumed: must be 0. */
  lost: number;
  /** Producer sleeps on a full ring / window, summed over producers. */
  fullWaits: number;
  /** Times producer threads were preempted during the run, summed (NaN without /proc). */
  producersPreempted: number;
}

type Reply<T extends FromWorker['type']> = Extract<FromWorker, { type: T }>;

/** The threads of one case, with a per-thread message queue and one shared failure. */
class ThreadGroup {
  private readonly threads: Worker[] = [];
  private readonly queues = new Map<Worker, FromWorker[]>();
  private readonly waiters = new Map<Worker, () => void>();
  private failure: Error | undefined;
  private closing = false;

  spawn(init: WorkerInit, transfer: TransferListItem[]): Worker {
    const worker = new Worker(WORKER_URL, { workerData: init, transferList: transfer });
    this.threads.push(worker);
    this.queues.set(worker, []);
    worker.on('message', (m: FromWorker) => {
      this.queues.get(worker)!.push(m);
      this.waiters.get(worker)?.();
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`bench ${init.role} ${init.index} exited early (code ${code})`));
    });
    return worker;
  }

  /** Waits for the next message of `type` from `worker`, failing if any thread fails. */
  async next<T extends FromWorker['type']>(worker: Worker, type: T, what: string): Promise<Reply<T>> {
    const queue = this.queues.get(worker)!;
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    for (;;) {
      if (this.failure) throw this.failure;
      const i = queue.findIndex((m) => m.type === type);
      if (i >= 0) return queue.splice(i, 1)[0] as Reply<T>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`bench: no '${type}' from ${what} within ${REPLY_TIMEOUT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.set(worker, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters.delete(worker);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const wake of this.waiters.values()) wake();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((w) => w.terminate()));
  }
}

/** Runs `def` with `params`: one warm-up run, then `runs` measured runs. */
export async function runCase(
  def: CaseDefinition,
  params: CaseParams,
  opts: { runs: number; durationMs: number; warmupMs: number },
): Promise<{ warmup: RunOutcome; runs: RunOutcome[] }> {
  if (params.producers > MAX_PRODUCERS) throw new RangeError(`at most ${MAX_PRODUCERS} producers`);
  const storage = createControlStorage();
  const control = new RunControl(storage);
  const wiring = def.wire(params);
  const group = new ThreadGroup();
  const base = { module: def.module.href, params, control: storage };
  try {
    const consumer = group.spawn({ ...base, role: 'consumer', index: 0, data: wiring.consumer.data }, wiring.consumer.transfer);
    const producers = wiring.producers.map((p, index) =>
      group.spawn({ ...base, role: 'producer', index, data: p.data }, p.transfer),
    );
    await group.next(consumer, 'ready', 'the consumer');
    for (const [i, p] of producers.entries()) await group.next(p, 'ready', `producer ${i}`);

    const one = async (gen: number, durationMs: number): Promise<RunOutcome> => {
      control.reset(wiring.producers.length);
      consumer.postMessage({ type: 'arm', gen } satisfies ToWorker);
      await group.next(consumer, 'armed', 'the consumer');
      const t0 = control.go(gen);
      await delay(durationMs);
      control.stop(gen);
      const { result } = await group.next(consumer, 'result', 'the consumer');
      let fullWaits = 0;
      let producersPreempted = 0;
      for (let i = 0; i < wiring.producers.length; i++) {
        fullWaits += control.fullWaits(i);
        producersPreempted += control.preempted(i);
      }
      const elapsedMs = result.tEnd - t0;
      return {
        ...result,
        elapsedMs,
        recordsPerSec: (result.consumed / elapsedMs) * 1000,
        mbPerSec: result.bytes / elapsedMs / 1000,
        lost: result.produced - result.consumed,
        fullWaits,
        producersPreempted,
      };
    };

    const warmup = await one(1, opts.warmupMs);
    const runs: RunOutcome[] = [];
    for (let r = 0; r < opts.runs; r++) runs.push(await one(r + 2, opts.durationMs));
    return { warmup, runs };
  } finally {
    control.exit();
    await group.close();
  }
}
