/**
 * Baselines "postMessage bytes" and "postMessage object": what a user reaches for first.
 * Each producer owns one MessageChannel to the consumer and posts one message per
 * record: either the record's bytes (a Uint8Array, copied by structured clone) or a
 * small object `{ name, value, ts }`.
 *
 * ```
 *  +------------+  port.postMessage(record)   (structured clone per record)
 *  | producer 0 |==========================+
 *  +------------+    MessageChannel 0      |
 *  | producer 1 |==========================+====>  +------------+  'message' event per
 *  +------------+    MessageChannel 1      |      |  consumer  |  record on its event
 *       ...                                |      +------------+  loop: check seq, count
 *  | producer N |==========================+            |
 *  +------------+                                       | credit: records consumed per
 *        ^                                              | producer (Atomics.store)
 *        +----------------------------------------------+
 * ```
 *
 * postMessage never pushes back: a producer can queue messages faster than the consumer
 * takes them until memory runs out. To compare like with like, each producer may have at
 * most as many unconsumed messages in flight as its ring would hold records (the
 * consumer publishes a per-producer credit counter); at the window it backs off the way
 * ring producers do when full. The object variant pads `name` so that a message carries
 * about as many bytes as the record size of the row.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Backoff } from '../backoff.ts';
import { EXIT, RunControl, absoluteNow } from '../control.ts';
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

export type Variant = 'bytes' | 'object';

interface ProducerData {
  port: MessagePort;
  variant: Variant;
  window: number;
}
interface ConsumerData {
  ports: MessagePort[];
  variant: Variant;
}

/** The object a producer posts in the 'object' variant. */
interface MetricMessage {
  name: string;
  value: number;
  ts: number;
}
/** The last message of a run on each port: how many records were posted. */
interface DoneMessage {
  done: number;
}

/** How many records of `recordBytes` fit a ring of `ringBytes` (8-byte header, aligned). */
export function ringRecords(ringBytes: number, recordBytes: number): number {
  return Math.floor(ringBytes / (8 + ((recordBytes + 7) & ~7)));
}

/** Main thread: one MessageChannel per producer. */
export function wire(params: CaseParams, variant: Variant): Wiring {
  const channels = Array.from({ length: params.producers }, () => new MessageChannel());
  const window = ringRecords(params.ringBytes, params.recordBytes);
  const ports = channels.map((c) => c.port2);
  return {
    consumer: { data: { ports, variant } satisfies ConsumerData, transfer: ports },
    producers: channels.map((c) => {
      const port = c.port1;
      return { data: { port, variant, window } satisfies ProducerData, transfer: [port] };
    }),
  };
}

/** Producer thread: posts one message per record, within its window. */
export function producer(init: WorkerInit): void {
  const { port, variant, window } = init.data as ProducerData;
  const { params } = init;
  const control = new RunControl(init.control);
  const template = recordTemplate(init.index, params.recordBytes);
  const words = new Int32Array(template.buffer);
  const times = new Float64Array(template.buffer);
  // The 'object' variant's metric name: padded so the message weighs about a record.
  const name = `cpu.load.producer-${init.index}.`.padEnd(Math.max(8, params.recordBytes - 16), 'x');
  const clock = relativeClock(params.clockBase);
  const paced = params.mode === 'latency';
  const periodMs = 1000 / params.paceRate;
  const index = init.index;
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
      let ts = 0;
      if (paced) {
        ts = clock();
        if (ts < next) continue;
      }
      if (((seq - control.credit(index)) | 0) >= window) {
        backoff.pause();
        continue;
      }
      if (variant === 'bytes') {
        words[SEQ_WORD] = seq;
        times[TIME_F64] = ts;
        port.postMessage(template);
      } else {
        port.postMessage({ name, value: seq, ts } satisfies MetricMessage);
      }
      seq++;
      backoff.reset();
      if (paced) {
        next += periodMs;
        if (next < ts - periodMs) next = ts;
      }
    }
    port.postMessage({ done: seq } satisfies DoneMessage);
    control.finish(index, seq, backoff.sleeps, preemptions() - preempted);
  }
}

/** Consumer thread: one 'message' listener per port; a run ends with every 'done'. */
export function consumer(init: WorkerInit): void {
  const { ports, variant } = init.data as ConsumerData;
  const { params } = init;
  const n = ports.length;
  const control = new RunControl(init.control);
  const clock = relativeClock(params.clockBase);
  const latency = params.mode === 'latency';
  const histogram = latencyHistogram();
  const counts = new Int32Array(n);
  let consumed = 0;
  let produced = 0;
  let bytes = 0;
  let orderErrors = 0;
  let doneCount = 0;
  let finish: ((r: ConsumerResult) => void) | undefined;
  let preempted = 0;

  const onDone = (m: DoneMessage): void => {
    produced += m.done;
    doneCount++;
    if (doneCount === n && finish) {
      const resolve = finish;
      finish = undefined;
      resolve({
        produced,
        consumed,
        bytes,
        orderErrors,
        tEnd: absoluteNow(),
        drainPasses: 0,
        sleeps: 0,
        sleepMs: 0,
        lostWakeups: 0,
        consumerPreempted: preemptions() - preempted,
        latency: latency ? summarise(histogram) : undefined,
      });
    }
  };

  ports.forEach((port, i) => {
    if (variant === 'bytes') {
      port.on('message', (m: Uint8Array | DoneMessage) => {
        if (!(m instanceof Uint8Array)) return onDone(m);
        const seq = m[4] | (m[5] << 8) | (m[6] << 16) | (m[7] << 24);
        if (seq !== counts[i]) orderErrors++;
        if (latency) {
          const sent = new DataView(m.buffer, m.byteOffset, m.byteLength).getFloat64(8 * TIME_F64, true);
          histogram.record(Math.max(1, Math.round((clock() - sent) * 1e6)));
        }
        bytes += m.length;
        consumed++;
        control.setCredit(i, ++counts[i]);
      });
    } else {
      port.on('message', (m: MetricMessage | DoneMessage) => {
        if ('done' in m) return onDone(m);
        if (m.value !== counts[i]) orderErrors++;
        if (latency) histogram.record(Math.max(1, Math.round((clock() - m.ts) * 1e6)));
        bytes += m.name.length + 16;
        consumed++;
        control.setCredit(i, ++counts[i]);
      });
    }
  });

  serveRuns(
    () =>
      new Promise<ConsumerResult>((resolve) => {
        counts.fill(0);
        histogram.reset();
        consumed = produced = bytes = orderErrors = doneCount = 0;
        preempted = preemptions();
        finish = resolve;
      }),
  );
}
