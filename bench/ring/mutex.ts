/**
 * A futex-style mutex on one int32 of a SharedArrayBuffer, for the mutex-queue baseline:
 * the lock a user would write to share one queue between threads (Drepper, "Futexes
 * Are Tricky", mutex #3, plus a short spin before sleeping, as glibc's adaptive mutex).
 *
 * States: 0 free, 1 held, 2 held and someone may sleep on it. lock(): CAS 0→1; if that
 * fails spin a little, then mark 2 and Atomics.wait until a swap to 2 finds it free.
 * unlock(): decrement; if it was 2, store 0 and wake one sleeper. Atomics.wait blocks the
 * thread: acceptable for bench producers and this consumer, not for an event-loop thread.
 */

/** Acquisition attempts with Atomics.pause before going to sleep. */
const SPINS = 100;

const pause: (n?: number) => void =
  (Atomics as unknown as { pause?: (n?: number) => void }).pause?.bind(Atomics) ?? (() => {});

export class FutexMutex {
  /** Times lock() had to sleep: the contention the lock-free ring avoids. */
  sleeps = 0;
  private readonly words: Int32Array;
  private readonly index: number;

  /** Wraps the int32 at `index` of `words` (zero = unlocked). */
  constructor(words: Int32Array, index: number) {
    this.words = words;
    this.index = index;
  }

  lock(): void {
    const words = this.words;
    const i = this.index;
    let c = Atomics.compareExchange(words, i, 0, 1);
    if (c === 0) return;
    for (let spin = 0; spin < SPINS; spin++) {
      pause();
      if (Atomics.load(words, i) === 0) {
        c = Atomics.compareExchange(words, i, 0, 1);
        if (c === 0) return;
      }
    }
    if (c !== 2) c = Atomics.exchange(words, i, 2);
    while (c !== 0) {
      this.sleeps++;
      Atomics.wait(words, i, 2);
      c = Atomics.exchange(words, i, 2);
    }
  }

  unlock(): void {
    const words = this.words;
    const i = this.index;
    if (Atomics.sub(words, i, 1) !== 1) {
      Atomics.store(words, i, 0);
      Atomics.notify(words, i, 1);
    }
  }
}
