/**
 * Case "ring": the metricstream design. Each producer thread is the single writer of its
 * own SPSC ring; one consumer thread (the owner role) drains them all.
 *
 * ```
 *  +------------+  tryWrite: copy in, one         +--------+
 *  | producer 0 |--Atomics.store(TAIL) per record->| ring 0 |--+
 *  +------------+                                  +--------+  |  read() each ring in turn:
 *  | producer 1 |--------------------------------->| ring 1 |--+  copy each record out,
 *  +------------+                                  +--------+  |  check its seq, complete()
 *       ...                                           ...      |  it; publish() per pass
 *  +------------+                                  +--------+  |         |
 *  | producer N |--------------------------------->| ring N |--+   +------------+
 *  +------------+                                  +--------+      |  consumer  |
 *     |    ^  doorbell.ring(): notify only if the consumer sleeps  | (1 thread) |
 *     |    +-- DURABLE notify when a producer waits for space <----+------------+
 *     +------------------------------------------------------------------^
 * ```
 *
 * Producers register no durable callback (acks=0 style): the consumer still completes
 * every record and publishes once per drained pass, so the completion slots recycle as
 * they will under the real owner. When its ring is full a producer spins a few times,
 * then sleeps until the consumer has drained a batch of it (RingSpaceWait: woken by the
 * owner's publish() through the ring's WRITER_WAITS flag), or with --full-wait sleep,
 * for a doubling 5 µs..1 ms (Backoff).
 * The consumer sleeps on the Doorbell when a full sweep over all rings finds nothing.
 */
import { Doorbell, createDoorbellStorage } from '../../../src/ring/doorbell.ts';
import { SENT_UNACKNOWLEDGED } from '../../../src/ring/ring-descriptor.ts';
import { RingReader } from '../../../src/ring/ring-reader.ts';
import { createRingStorage, type RingStorage } from '../../../src/ring/ring-storage.ts';
import { FULL, RingWriter } from '../../../src/ring/ring-writer.ts';
import { Backoff, DoorbellIdle, RingSpaceWait, type FullWait } from '../backoff.ts';
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
import { PRODUCER_WORD, SEQ_WORD, TIME_F64, recordTemplate, relativeClock } from '../record.ts';

const RECORD_TYPE = 1;
/** Records per read() pass: bounds how long a ring's space stays unreleased. */
const READ_LIMIT = 4096;
/** The doorbell's safety-net timeout; a wake-up that needs it is counted as lost. */
const SLEEP_TIMEOUT_MS = 100;
/** The consumer's batch buffer; when a sweep would overflow it, it restarts at 0. */
const BATCH_BYTES = 4 << 20;
/** Records above this size are copied out with one TypedArray.set, below with a word loop. */
const SET_COPY_MIN = 256;

interface ProducerData {
  storage: RingStorage;
  doorbell: SharedArrayBuffer;
}
interface ConsumerData {
  storages: RingStorage[];
  doorbell: SharedArrayBuffer;
}

/** Main thread: one ring per producer and one doorbell for the consumer. */
export function wire(params: CaseParams): Wiring {
  const doorbell = createDoorbellStorage();
  const storages = Array.from({ length: params.producers }, () => createRingStorage(params.ringBytes));
  return {
    consumer: { data: { storages, doorbell } satisfies ConsumerData, transfer: [] },
    producers: storages.map((storage) => ({ data: { storage, doorbell } satisfies ProducerData, transfer: [] })),
  };
}

// ---------------------------------------------------------------- producer

/** Producer thread: writes records into its ring for each run until told to stop. */
export function producer(init: WorkerInit): void {
  const { storage, doorbell } = init.data as ProducerData;
  const { params } = init;
  const control = new RunControl(init.control);
  const bell = new Doorbell(doorbell);
  const writer = new RingWriter(storage, bell);
  const template = recordTemplate(init.index, params.recordBytes);
  const clock = relativeClock(params.clockBase);
  signalReady();
  let last = 0;
  for (;;) {
    const gen = control.awaitGo(last);
    if (gen === EXIT) return;
    last = gen;
    const preempted = preemptions();
    const backoff: FullWait = params.fullWait === 'wake' ? new RingSpaceWait(storage.buffer) : new Backoff();
    let produced: number;
    if (params.mode === 'latency') produced = pacedLoop(writer, template, control, gen, backoff, clock, params.paceRate);
    else if (params.encode === 'in-place') produced = inPlaceLoop(writer, template, control, gen, backoff);
    else if (params.encode === 'fill-copy') produced = fillCopyLoop(writer, template, control, gen, backoff);
    else produced = copyLoop(writer, template, control, gen, backoff);
    control.finish(init.index, produced, backoff.sleeps, preemptions() - preempted);
    // The consumer may be asleep waiting for this very DONE.
    bell.ring();
  }
}

/** Encode elsewhere, copy in: stamp the seq into a ready template, tryWrite it. */
function copyLoop(writer: RingWriter, template: Uint8Array, control: RunControl, gen: number, backoff: FullWait): number {
  const words = new Int32Array(template.buffer);
  let seq = 0;
  while (!control.stopped(gen)) {
    words[SEQ_WORD] = seq;
    if (writer.tryWrite(RECORD_TYPE, template)) {
      seq++;
      backoff.reset();
    } else {
      backoff.pause();
    }
  }
  return seq;
}

/** "Encode" every word into a private buffer, then tryWrite (copy) it. */
function fillCopyLoop(writer: RingWriter, template: Uint8Array, control: RunControl, gen: number, backoff: FullWait): number {
  const source = new Int32Array(template.buffer);
  const scratch = new Uint8Array(template.length);
  const words = new Int32Array(scratch.buffer);
  const n = words.length;
  let seq = 0;
  while (!control.stopped(gen)) {
    words[PRODUCER_WORD] = source[PRODUCER_WORD];
    words[SEQ_WORD] = seq;
    for (let k = 2; k < n; k++) words[k] = source[k];
    if (writer.tryWrite(RECORD_TYPE, scratch)) {
      seq++;
      backoff.reset();
    } else {
      backoff.pause();
    }
  }
  return seq;
}

/** "Encode" every word straight into the claimed ring space: tryClaim + commit. */
function inPlaceLoop(writer: RingWriter, template: Uint8Array, control: RunControl, gen: number, backoff: FullWait): number {
  const source = new Int32Array(template.buffer);
  const ring = new Int32Array(writer.bytes.buffer);
  const n = source.length;
  const size = template.length;
  let seq = 0;
  while (!control.stopped(gen)) {
    const at = writer.tryClaim(RECORD_TYPE, size);
    if (at === FULL) {
      backoff.pause();
      continue;
    }
    const w = at >> 2;
    ring[w + PRODUCER_WORD] = source[PRODUCER_WORD];
    ring[w + SEQ_WORD] = seq;
    for (let k = 2; k < n; k++) ring[w + k] = source[k];
    writer.commit();
    seq++;
    backoff.reset();
  }
  return seq;
}

/**
 * Latency mode: one record every 1/rate s, stamped with the clock just before the write.
 * Spins between records (the producer has a core to itself in this test); if it falls
 * behind (descheduled) it does not burst to catch up, so the rate stays a rate.
 */
function pacedLoop(
  writer: RingWriter,
  template: Uint8Array,
  control: RunControl,
  gen: number,
  backoff: FullWait,
  clock: () => number,
  rate: number,
): number {
  const words = new Int32Array(template.buffer);
  const times = new Float64Array(template.buffer);
  const periodMs = 1000 / rate;
  let next = clock();
  let seq = 0;
  while (!control.stopped(gen)) {
    const now = clock();
    if (now < next) continue;
    words[SEQ_WORD] = seq;
    times[TIME_F64] = now;
    if (writer.tryWrite(RECORD_TYPE, template)) {
      seq++;
      backoff.reset();
      next += periodMs;
      if (next < now - periodMs) next = now;
    } else {
      backoff.pause();
    }
  }
  return seq;
}

// ---------------------------------------------------------------- consumer

/** Consumer thread: drains every ring per run, verifying order and counting. */
export function consumer(init: WorkerInit): void {
  const { storages, doorbell } = init.data as ConsumerData;
  const { params } = init;
  const control = new RunControl(init.control);
  const bell = new Doorbell(doorbell);
  const readers = storages.map((s) => new RingReader(s));
  const ringWords = storages.map((s) => new Int32Array(s.buffer));
  const ringTimes = storages.map((s) => new Float64Array(s.buffer));
  const n = readers.length;
  const expected = new Int32Array(n);
  const clock = relativeClock(params.clockBase);
  const latency = params.mode === 'latency';
  const spinUs = params.consumerSpinUs;
  const histogram = latencyHistogram();
  // Where drained records are copied to, as the owner does before handing a batch to
  // the sink; reused from the start after every sweep (the batch was "handed off").
  const batchBytes = new Uint8Array(BATCH_BYTES);
  const batchWords = new Int32Array(batchBytes.buffer);

  let current = 0;
  let currentReader = readers[0];
  let currentWords = ringWords[0];
  let currentTimes = ringTimes[0];
  let batchPos = 0;
  let bytes = 0;
  let orderErrors = 0;

  const handler = (_type: number, ringBytes: Uint8Array, index: number, length: number): void => {
    const w = index >> 2;
    const seq = currentWords[w + SEQ_WORD];
    if (seq !== expected[current]) orderErrors++;
    expected[current] = seq + 1;
    if (latency) histogram.record(Math.max(1, Math.round((clock() - currentTimes[(index >> 3) + TIME_F64]) * 1e6)));
    // Copy the payload out: the ring space is reused as soon as this pass ends.
    const span = ((length + 7) >> 3) << 1;
    if (batchPos + span > batchWords.length) batchPos = 0;
    if (length >= SET_COPY_MIN) {
      batchBytes.set(ringBytes.subarray(index, index + length), batchPos << 2);
    } else {
      const words = (length + 3) >> 2;
      for (let k = 0; k < words; k++) batchWords[batchPos + k] = currentWords[w + k];
    }
    batchPos += span;
    bytes += length;
    currentReader.complete(SENT_UNACKNOWLEDGED, 0, seq);
  };

  const hasWork = (): boolean => {
    for (let i = 0; i < n; i++) if (readers[i].hasRecords()) return true;
    return control.done() === n;
  };

  serveRuns(async (): Promise<ConsumerResult> => {
    const preempted = preemptions();
    expected.fill(0);
    histogram.reset();
    bytes = 0;
    orderErrors = 0;
    let consumed = 0;
    let drainPasses = 0;
    const idle = new DoorbellIdle(bell, spinUs, SLEEP_TIMEOUT_MS);
    for (;;) {
      // Read DONE before the sweep: if every producer was done then, an empty sweep
      // proves the rings are drained for good.
      const allDone = control.done() === n;
      let swept = 0;
      for (let i = 0; i < n; i++) {
        current = i;
        currentReader = readers[i];
        currentWords = ringWords[i];
        currentTimes = ringTimes[i];
        const got = currentReader.read(handler, READ_LIMIT);
        if (got !== 0) {
          currentReader.publish();
          drainPasses++;
          swept += got;
        }
      }
      batchPos = 0;
      if (swept !== 0) {
        consumed += swept;
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
      bytes,
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
