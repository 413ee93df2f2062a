/**
 * Waits on one Int32 word of shared memory without blocking the thread and without a
 * timer per wait: Atomics.waitAsync with no timeout, plus one interval per waiter that
 * stands in for the timeouts. The ring writer's durable watcher and the owner's doorbell
 * wait through it.
 *
 * Why not waitAsync's own timeout: V8 implements it as a delayed task, which Node's
 * platform turns into a wake-up of the thread's event loop (uv_async_send) and a uv timer
 * of its own, and that timer runs out the whole timeout even when the wait ended at once.
 * `npm run bench:wake` measures a waiting thread's CPU per wake-up both ways (README,
 * "Wake-up cost"); the gateway's workers wait once per commit that holds their records,
 * the owner once per idle spell.
 *
 * What the timeouts gave, the interval keeps:
 * - waitAsync alone does not keep the event loop alive: the interval is ref'd exactly
 *   while a wait is pending, so a thread with records in flight does not exit.
 * - A lost wake-up (a bug in the protocol above) cannot hang the waiter: every tick wakes
 *   a pending wait whose word has changed (counted in lostWakeups), and a wait that saw
 *   a whole period pass without a notify ends as 'timed-out'.
 *
 * One waiter per word, one wait at a time (the DESIGN's rule for waitAsync): the tick
 * wakes the word's first waiter, which must be ours.
 */

export type WaitOutcome = 'ok' | 'not-equal' | 'timed-out';

export class AsyncWaiter {
  readonly #words: Int32Array;
  readonly #index: number;
  readonly #timer: NodeJS.Timeout;
  /** The safety net's period: a wait nobody notifies ends after one to two of these. */
  readonly periodMs: number;
  #expected = 0;
  #pending = false;
  /** Ticks the pending wait has seen: it times out at the second (after one to two periods). */
  #ticks = 0;
  #timedOut = false;
  /**
   * Waits that a tick had to wake because the word had changed without a notify reaching
   * them: each one is a lost wake-up, so this stays 0 unless the protocol is broken.
   */
  lostWakeups = 0;

  /** Waits on `words[index]`; a wait nobody notifies ends after one to two `periodMs`. */
  constructor(words: Int32Array, index: number, periodMs: number) {
    this.#words = words;
    this.#index = index;
    this.periodMs = periodMs;
    this.#timer = setInterval(() => this.#tick(), periodMs).unref();
  }

  /**
   * Resolves 'not-equal' at once if the word is not `expected`; else 'ok' once it is
   * notified, or 'timed-out' when no notify came for a period. Must not be called again
   * before it resolved.
   */
  async wait(expected: number): Promise<WaitOutcome> {
    const result = Atomics.waitAsync(this.#words, this.#index, expected);
    if (!result.async) return result.value;
    this.#expected = expected;
    this.#ticks = 0;
    this.#timedOut = false;
    this.#pending = true;
    this.#timer.ref();
    try {
      await result.value;
    } finally {
      this.#pending = false;
      this.#timer.unref();
    }
    return this.#timedOut ? 'timed-out' : 'ok';
  }

  /** Stops the interval; a pending wait then ends only when notified. */
  close(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    if (!this.#pending) return;
    const words = this.#words;
    if (Atomics.load(words, this.#index) !== this.#expected) {
      // Changed while we sleep. A notify already on its way has taken us off the waiter
      // list, and then this one wakes nobody: only a wake-up really lost is counted.
      if (Atomics.notify(words, this.#index, 1) > 0) this.lostWakeups++;
      return;
    }
    if (++this.#ticks >= 2) {
      this.#timedOut = true;
      Atomics.notify(words, this.#index, 1);
    }
  }
}
