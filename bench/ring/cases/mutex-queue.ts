/**
 * Baseline "mutex queue": the predecessor's fix carried over to threads. ONE byte queue
 * in ONE SharedArrayBuffer, shared by every producer and the consumer, guarded by ONE
 * futex mutex (bench/ring/mutex.ts).
 *
 * ```
 *  +------------+  lock; append [len|producer|payload]; unlock
 *  | producer 0 |------------------+
 *  +------------+                  |      +-------------------------------+
 *  | producer 1 |------------------+----->| lock | head | tail | bytes ... |  one SAB,
 *  +------------+                  |      +-------------------------------+  one mutex
 *       ...                        |                     |
 *  | producer N |------------------+                     | lock; copy out every byte
 *  +------------+                                        v from head to tail; unlock
 *        | doorbell.ring() (as the ring case)      +------------+
 *        +---------------------------------------->|  consumer  |  then parse, check seq
 *                                                  +------------+
 * ```
 *
 * Generous to the baseline: the consumer takes everything queued under one lock
 * acquisition and parses it outside the lock, so it holds the lock for one memcpy per
 * pop, not once per record; only the producers pay a lock per record. The queue holds
 * producers x ringBytes (the same memory the rings get), framed like the ring: 8-byte
 * header, 8-byte alignment, a padding record (producer = -1) at the wrap.
 */
import { Doorbell, createDoorbellStorage } from '../../../src/ring/doorbell.ts';
import { Backoff, DoorbellIdle } from '../backoff.ts';
import { EXIT, RunControl, absoluteNow } from '../control.ts';
import { FutexMutex } from '../mutex.ts';
import {
  latencyHistogram,
  serveRuns,
  signalReady,
  summarise,
  type CaseParams,
  type ConsumerResult,
  type WorkerInit,
  type Wiring,
} from '../protocol.ts';
import { preemptions } from '../thread-stats.ts';
import { SEQ_WORD, TIME_F64, recordTemplate, relativeClock } from '../record.ts';

const LOCK = 0;
const HEAD = 32;
const TAIL = 64;
const DATA = 384;
const PADDING = -1;
const SLEEP_TIMEOUT_MS = 100;

interface QueueData {
  buffer: SharedArrayBuffer;
  capacity: number;
  doorbell: SharedArrayBuffer;
}

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/** Main thread: the one shared queue (producers x ringBytes) and a doorbell. */
export function wire(params: CaseParams): Wiring {
  const capacity = nextPowerOfTwo(params.producers * params.ringBytes);
  const data: QueueData = { buffer: new SharedArrayBuffer(DATA + capacity), capacity, doorbell: createDoorbellStorage() };
  return {
    consumer: { data, transfer: [] },
    producers: Array.from({ length: params.producers }, () => ({ data, transfer: [] })),
  };
}

/** The producer side of the shared queue. */
class QueueProducer {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly mutex: FutexMutex;
  private readonly capacity: number;
  private readonly mask: number;
  private readonly producerId: number;

  constructor(data: QueueData, producerId: number) {
    this.words = new Int32Array(data.buffer);
    this.bytes = new Uint8Array(data.buffer);
    this.mutex = new FutexMutex(this.words, LOCK);
    this.capacity = data.capacity;
    this.mask = data.capacity - 1;
    this.producerId = producerId;
  }

  /** Appends one record under the lock; false when the queue lacks room. */
  tryPush(payload: Uint8Array): boolean {
    const words = this.words;
    const aligned = 8 + ((payload.length + 7) & ~7);
    this.mutex.lock();
    const tail = words[TAIL];
    const head = words[HEAD];
    const index = tail & this.mask;
    const toEnd = this.capacity - index;
    const required = aligned <= toEnd ? aligned : toEnd + aligned;
    if (required > this.capacity - ((tail - head) | 0)) {
      this.mutex.unlock();
      return false;
    }
    let at = DATA + index;
    if (required !== aligned) {
      words[at >> 2] = toEnd;
      words[(at >> 2) + 1] = PADDING;
      at = DATA;
    }
    words[at >> 2] = payload.length;
    words[(at >> 2) + 1] = this.producerId;
    this.bytes.set(payload, at + 8);
    // Atomics.store: the consumer's "anything there?" check reads TAIL without the lock.
    Atomics.store(words, TAIL, (tail + required) | 0);
    this.mutex.unlock();
    return true;
  }
}

/** Producer thread: pushes records until told to stop, backing off when full. */
export function producer(init: WorkerInit): void {
  const data = init.data as QueueData;
  const { params } = init;
  const control = new RunControl(init.control);
  const bell = new Doorbell(data.doorbell);
  const queue = new QueueProducer(data, init.index);
  const template = recordTemplate(init.index, params.recordBytes);
  const words = new Int32Array(template.buffer);
  const times = new Float64Array(template.buffer);
  const clock = relativeClock(params.clockBase);
  const paced = params.mode === 'latency';
  const periodMs = 1000 / params.paceRate;
  signalReady();
  let last = 0;
  for (;;) {
    const gen = control.awaitGo(last);
    if (gen === EXIT) return;
    last = gen;
    const preempted = preemptions();
    const backoff = new Backoff();
    let seq = 0;
    let next = clock();
    while (!control.stopped(gen)) {
      if (paced) {
        const now = clock();
        if (now < next) continue;
        times[TIME_F64] = now;
      }
      words[SEQ_WORD] = seq;
      if (queue.tryPush(template)) {
        bell.ring();
        seq++;
        backoff.reset();
        if (paced) {
          next += periodMs;
          const now = clock();
          if (next < now - periodMs) next = now;
        }
      } else {
        backoff.pause();
      }
    }
    control.finish(init.index, seq, backoff.sleeps, preemptions() - preempted);
    bell.ring();
  }
}

/** Consumer thread: pops everything queued per lock acquisition, verifies, counts. */
export function consumer(init: WorkerInit): void {
  const data = init.data as QueueData;
  const { params } = init;
  const n = params.producers;
  const control = new RunControl(init.control);
  const bell = new Doorbell(data.doorbell);
  const words = new Int32Array(data.buffer);
  const bytes = new Uint8Array(data.buffer);
  const mutex = new FutexMutex(words, LOCK);
  const mask = data.capacity - 1;
  const out = new Uint8Array(data.capacity);
  const outWords = new Int32Array(out.buffer);
  const outTimes = new Float64Array(out.buffer);
  const expected = new Int32Array(n);
  const clock = relativeClock(params.clockBase);
  const latency = params.mode === 'latency';
  const histogram = latencyHistogram();
  const spinUs = params.consumerSpinUs;
  const hasWork = (): boolean => Atomics.load(words, TAIL) !== Atomics.load(words, HEAD) || control.done() === n;

  serveRuns(async (): Promise<ConsumerResult> => {
    const preempted = preemptions();
    expected.fill(0);
    histogram.reset();
    let consumed = 0;
    let bytesIn = 0;
    let orderErrors = 0;
    let drainPasses = 0;
    const idle = new DoorbellIdle(bell, spinUs, SLEEP_TIMEOUT_MS);
    for (;;) {
      const allDone = control.done() === n;
      // Pop: copy every queued byte out under the lock.
      mutex.lock();
      const head = words[HEAD];
      const tail = Atomics.load(words, TAIL);
      const length = (tail - head) | 0;
      if (length !== 0) {
        const index = head & mask;
        const first = Math.min(length, data.capacity - index);
        out.set(bytes.subarray(DATA + index, DATA + index + first), 0);
        if (first < length) out.set(bytes.subarray(DATA, DATA + length - first), first);
        Atomics.store(words, HEAD, tail);
      }
      mutex.unlock();
      if (length !== 0) {
        drainPasses++;
        for (let at = 0; at < length; ) {
          const size = outWords[at >> 2];
          const producerId = outWords[(at >> 2) + 1];
          if (producerId !== PADDING) {
            const seq = outWords[(at >> 2) + 2 + SEQ_WORD];
            if (seq !== expected[producerId]) orderErrors++;
            expected[producerId] = seq + 1;
            if (latency) histogram.record(Math.max(1, Math.round((clock() - outTimes[(at >> 3) + 1 + TIME_F64]) * 1e6)));
            consumed++;
            bytesIn += size;
            at += 8 + ((size + 7) & ~7);
          } else {
            at += size;
          }
        }
        continue;
      }
      if (allDone) break;
      await idle.wait(hasWork);
    }
    const tEnd = absoluteNow();
    let produced = 0;
    for (let i = 0; i < n; i++) produced += control.produced(i);
    return {
      produced,
      consumed,
      bytes: bytesIn,
      orderErrors,
      tEnd,
      drainPasses,
      sleeps: idle.sleeps,
      sleepMs: idle.sleepMs,
      lostWakeups: idle.lostWakeups,
      consumerPreempted: preemptions() - preempted,
      latency: latency ? summarise(histogram) : undefined,
    };
  });
}
