/**
 * Baseline "piscina": records dispatched as piscina tasks to a pool of ONE thread, which
 * acts as the consumer.
 *
 * ```
 *  +-------------------------------------+   pool.run(record): one task   +-----------+
 *  | dispatcher thread                   |   per record, structured clone | piscina   |
 *  |  submitter 0 ─┐                     |=============================>  | worker    |
 *  |  submitter 1 ─┼─> Piscina (queue)   |   result (seq) per task        | (1 thread,|
 *  |     ...       │   maxThreads = 1    |<=============================  | consumer) |
 *  |  submitter N ─┘                     |                                +-----------+
 *  +-------------------------------------+
 * ```
 *
 * Why not N producer threads: a Piscina pool can only be fed from the thread that
 * created it, so N real producer threads would first have to postMessage every record
 * to that thread (baseline "postMessage bytes" plus a second hop). The natural
 * equivalent is what a piscina user writes: one thread owns the pool and N concurrent
 * submitters (standing for N HTTP handlers) each keep up to `window / N` tasks in flight
 * (window = PISCINA_WINDOW in total; 32, 256 and 1024 gave the same ~15-30k tasks/s
 * here). Pool defaults otherwise (atomics 'sync', one task at a time per worker). The
 * "producers" column is therefore the number of submitters, not threads. Piscina does
 * not complete queued tasks in submission order: out-of-order completions are counted,
 * not treated as an error; loss is still checked (completed == submitted).
 */
import { Piscina } from 'piscina';
import { RunControl, absoluteNow } from '../control.ts';
import { serveRuns, type CaseParams, type ConsumerResult, type WorkerInit, type Wiring } from '../protocol.ts';
import { preemptions } from '../thread-stats.ts';
import { SEQ_WORD, recordTemplate } from '../record.ts';

/** Tasks in flight across all submitters. */
export const PISCINA_WINDOW = 256;

/** Main thread: nothing to share but the control block; no producer threads. */
export function wire(_params: CaseParams): Wiring {
  return { consumer: { data: null, transfer: [] }, producers: [] };
}

/** Never started: this case has no producer threads. */
export function producer(): void {
  throw new Error('the piscina case has no producer threads');
}

/** The dispatcher thread: owns the pool and runs the submitters. */
export async function consumer(init: WorkerInit): Promise<void> {
  const { params } = init;
  const n = params.producers;
  const control = new RunControl(init.control);
  const pool = new Piscina({
    filename: new URL('./piscina-task.ts', import.meta.url).href,
    minThreads: 1,
    maxThreads: 1,
  });
  const templates = Array.from({ length: n }, (_, i) => recordTemplate(i, params.recordBytes));
  const perSubmitter = Math.max(1, Math.floor(PISCINA_WINDOW / n));
  // The pool thread starts lazily; have it running before the first run is timed.
  await pool.run(templates[0]);
  let lastGen = 0;

  serveRuns(async (gen): Promise<ConsumerResult> => {
    await control.awaitGoAsync(lastGen);
    lastGen = gen;
    const preempted = preemptions();
    let produced = 0;
    let consumed = 0;
    let bytes = 0;
    let orderErrors = 0;
    let inFlight = 0;
    const nextSeq = new Int32Array(n);
    const expected = new Int32Array(n);
    const pending = new Int32Array(n);
    let stopping = false;
    let resolveRun!: (r: ConsumerResult) => void;
    const finished = new Promise<ConsumerResult>((resolve) => (resolveRun = resolve));

    const pump = (i: number): void => {
      if (!stopping && control.stopped(gen)) stopping = true;
      while (!stopping && pending[i] < perSubmitter) {
        // A fresh copy per task: a queued task is cloned only when piscina posts it.
        const record = templates[i].slice();
        new Int32Array(record.buffer)[SEQ_WORD] = nextSeq[i]++;
        pending[i]++;
        inFlight++;
        produced++;
        pool.run(record).then(
          (seq: number) => {
            if (seq !== expected[i]) orderErrors++;
            expected[i] = seq + 1;
            pending[i]--;
            inFlight--;
            consumed++;
            bytes += params.recordBytes;
            pump(i);
            if (stopping && inFlight === 0) {
              resolveRun({
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
              });
            }
          },
          (e: unknown) => {
            throw e;
          },
        );
      }
    };
    for (let i = 0; i < n; i++) pump(i);
    return finished;
  });
}
