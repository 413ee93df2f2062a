/**
 * What the main thread and the bench threads say to each other, and the shape every
 * case module has. Messages only flow between runs (ready, arm/armed, result); during a
 * run everything goes through the RunControl block, so a consumer may busy-loop.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { parentPort, type TransferListItem } from 'node:worker_threads';

/** One case: which transport, how many producers, how big the records are. */
export interface CaseParams {
  producers: number;
  /** Payload bytes per record (the ring adds its 8-byte header on top). */
  recordBytes: number;
  /** Bytes of each producer's ring; the windowed baselines get the same record budget. */
  ringBytes: number;
  /** 'throughput': write flat out; 'latency': one producer paced at paceRate records/s. */
  mode: 'throughput' | 'latency';
  paceRate: number;
  /**
   * How a ring producer produces a record: 'copy' stamps a pre-encoded template and
   * tryWrite()s it (encode elsewhere, then copy); 'fill-copy' writes every word of the
   * record into a private buffer and then tryWrite()s it; 'in-place' writes the same words
   * straight into the claimed ring space (tryClaim + commit).
   */
  encode: 'copy' | 'fill-copy' | 'in-place';
  /**
   * How long a ring or mutex-queue consumer that found nothing keeps checking (every
   * ~1 µs, with Atomics.pause in between) before it announces sleep on the doorbell.
   * 0 = sleep at once (pure lite blocking).
   */
  consumerSpinUs: number;
  /**
   * What a ring producer does when its ring is full, after a few spins: 'wake' sleeps
   * until the consumer frees space (RingSpaceWait), 'sleep' sleeps 5 µs doubling to 1 ms
   * (Backoff). The baselines always use Backoff.
   */
  fullWait: 'wake' | 'sleep';
  /** Absolute ms all threads subtract from their clocks (see relativeClock). */
  clockBase: number;
}

/** workerData of every bench thread. */
export interface WorkerInit {
  /** URL of the case module whose producer() or consumer() this thread runs. */
  module: string;
  role: 'producer' | 'consumer';
  /** Producer number (0-based); 0 for the consumer. */
  index: number;
  params: CaseParams;
  control: SharedArrayBuffer;
  /** Case-specific: ring storages, message ports, queue buffers. */
  data: unknown;
}

/** Per-thread wiring a case builds on the main thread before its threads start. */
export interface ThreadWiring {
  data: unknown;
  transfer: TransferListItem[];
}

export interface Wiring {
  consumer: ThreadWiring;
  /** One per producer thread; empty when the consumer thread produces too (piscina). */
  producers: ThreadWiring[];
}

/** What a case module exports. */
export interface CaseModule {
  producer(init: WorkerInit): void | Promise<void>;
  consumer(init: WorkerInit): void | Promise<void>;
}

/** Latency percentiles in microseconds. */
export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** What a consumer reports at the end of one run. */
export interface ConsumerResult {
  produced: number;
  consumed: number;
  /** Payload bytes consumed. */
  bytes: number;
  /** Records that arrived out of order or with a gap (per producer). */
  orderErrors: number;
  /** Absolute ms when the last record of the run was consumed. */
  tEnd: number;
  /** Ring: read() calls that returned records; mutex queue: non-empty pops. */
  drainPasses: number;
  /** Times the consumer really went to sleep (doorbell wait, not an immediate 'work'). */
  sleeps: number;
  /** Milliseconds the consumer spent asleep (or waiting for its event loop) in the run. */
  sleepMs: number;
  /** Sleeps that ended by timeout while work was waiting: lost wake-ups, should be 0. */
  lostWakeups: number;
  /** Times the consumer thread was preempted during the run (NaN without /proc). */
  consumerPreempted: number;
  latency?: LatencySummary;
}

export type ToWorker = { type: 'arm'; gen: number };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'armed' }
  | { type: 'result'; result: ConsumerResult };

/** Tells the main thread this producer is set up. */
export function signalReady(): void {
  parentPort!.postMessage({ type: 'ready' } satisfies FromWorker);
}

/**
 * Consumer side of the run protocol: on each 'arm' it answers 'armed' and then runs
 * `run(gen)`, whose result goes back as 'result'. Answers 'ready' at once.
 */
export function serveRuns(run: (gen: number) => Promise<ConsumerResult>): void {
  const port = parentPort!;
  port.on('message', (m: ToWorker) => {
    if (m.type !== 'arm') return;
    port.postMessage({ type: 'armed' } satisfies FromWorker);
    run(m.gen).then(
      (result) => port.postMessage({ type: 'result', result } satisfies FromWorker),
      (e: unknown) => {
        // Rethrown outside the promise so the worker dies with an 'error' event.
        setImmediate(() => {
          throw e;
        });
      },
    );
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
}

/** A histogram for latencies recorded in nanoseconds (1 ns .. 60 s, 3 figures). */
export function latencyHistogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 60e9, figures: 3 });
}

/** Summarises a nanosecond histogram in microseconds. */
export function summarise(h: RecordableHistogram): LatencySummary {
  return {
    count: h.count,
    meanUs: h.count === 0 ? 0 : h.mean / 1e3,
    p50Us: h.percentile(50) / 1e3,
    p99Us: h.percentile(99) / 1e3,
    p999Us: h.percentile(99.9) / 1e3,
    maxUs: h.max / 1e3,
  };
}
