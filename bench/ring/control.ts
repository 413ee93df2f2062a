/**
 * The run control block every bench thread shares: the main thread starts and stops
 * timed runs with it, producers report what they wrote, consumers read when everyone is
 * done. Control traffic goes through Atomics on its own lines so it never competes with
 * the data path (a postMessage per run would stall a busy-looping consumer).
 *
 * ```
 *   byte 0      | GO     int32  generation of the current run, EXIT = shut down  |
 *        128    | STOP   int32  generation asked to stop                          |
 *        256    | DONE   int32  producers finished with the current run           |
 *        384    | T0     f64    absolute ms (timeOrigin + now) when GO was set    |
 *        512    | per producer i, one 128-byte line each:                         |
 *               |   f64 produced, f64 full waits, int32 credit (consumed),      |
 *               |   f64 preemptions during the run                              |
 * ```
 */

const LINE = 128;
const GO = 0;
const STOP = LINE / 4;
const DONE = (2 * LINE) / 4;
const T0 = (3 * LINE) / 8;
const SLOTS = 4 * LINE;
/** Generation value that tells producers to leave their loop. */
export const EXIT = -1;
export const MAX_PRODUCERS = 64;

/** Absolute milliseconds, comparable across threads of one process. */
export function absoluteNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Allocates a zeroed control block. */
export function createControlStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS + MAX_PRODUCERS * LINE);
}

/** Typed views over the control block; every thread makes its own. */
export class RunControl {
  readonly words: Int32Array;
  private readonly f64: Float64Array;

  constructor(storage: SharedArrayBuffer) {
    this.words = new Int32Array(storage);
    this.f64 = new Float64Array(storage);
  }

  // ---- main thread ----

  /** Clears the per-run counters; call before arming the consumer. */
  reset(producers: number): void {
    Atomics.store(this.words, DONE, 0);
    for (let i = 0; i < producers; i++) {
      const at = (SLOTS + i * LINE) / 8;
      this.f64[at] = 0;
      this.f64[at + 1] = 0;
      this.f64[at + 3] = 0;
      Atomics.store(this.words, (SLOTS + i * LINE) / 4 + 4, 0);
    }
  }

  /** Stamps T0 and releases every producer waiting for `gen`. */
  go(gen: number): number {
    const t0 = absoluteNow();
    this.f64[T0] = t0;
    Atomics.store(this.words, GO, gen);
    Atomics.notify(this.words, GO);
    return t0;
  }

  /** Asks the producers of run `gen` to stop. */
  stop(gen: number): void {
    Atomics.store(this.words, STOP, gen);
  }

  /** Tells every producer to leave. */
  exit(): void {
    Atomics.store(this.words, GO, EXIT);
    Atomics.notify(this.words, GO);
  }

  // ---- producers ----

  /** Blocks (synchronously: producers are not event-loop threads) until GO moves past `last`. */
  awaitGo(last: number): number {
    Atomics.wait(this.words, GO, last);
    return Atomics.load(this.words, GO);
  }

  /** Event-loop version of awaitGo, for the piscina dispatcher. */
  async awaitGoAsync(last: number): Promise<number> {
    const result = Atomics.waitAsync(this.words, GO, last);
    if (result.async) await result.value;
    return Atomics.load(this.words, GO);
  }

  /** Whether run `gen` was asked to stop. One Atomics.load of a line written once per run. */
  stopped(gen: number): boolean {
    return Atomics.load(this.words, STOP) === gen;
  }

  /** Publishes producer i's totals, then counts it done (the order consumers rely on). */
  finish(i: number, produced: number, fullWaits: number, preempted: number): void {
    const at = (SLOTS + i * LINE) / 8;
    this.f64[at] = produced;
    this.f64[at + 1] = fullWaits;
    this.f64[at + 3] = preempted;
    Atomics.add(this.words, DONE, 1);
  }

  // ---- consumers ----

  /** Producers done with the current run; read it before a final drain pass. */
  done(): number {
    return Atomics.load(this.words, DONE);
  }

  /** Producer i's count, valid once done() counted it. */
  produced(i: number): number {
    return this.f64[(SLOTS + i * LINE) / 8];
  }

  /** Producer i's number of back-offs on a full ring or window, valid once done. */
  fullWaits(i: number): number {
    return this.f64[(SLOTS + i * LINE) / 8 + 1];
  }

  /** Times producer i was preempted during the run, valid once done. */
  preempted(i: number): number {
    return this.f64[(SLOTS + i * LINE) / 8 + 3];
  }

  /** T0 of the current run as stamped by go(). */
  t0(): number {
    return this.f64[T0];
  }

  // ---- credit: the consumer's count per producer, for windowed baselines ----

  /** Consumer side: records consumed from producer i so far in this run (wrapping int32). */
  setCredit(i: number, consumed: number): void {
    Atomics.store(this.words, (SLOTS + i * LINE) / 4 + 4, consumed);
  }

  /** Producer side: what setCredit last stored; compare with `((sent - credit) | 0)`. */
  credit(i: number): number {
    return Atomics.load(this.words, (SLOTS + i * LINE) / 4 + 4);
  }
}
