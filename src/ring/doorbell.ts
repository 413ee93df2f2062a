import { AsyncWaiter, type WaitOutcome } from './async-waiter.ts';
import { CACHE_LINE } from './ring-descriptor.ts';

/**
 * The owner thread's doorbell, shared by every ring: the owner sleeps on it when all
 * rings are empty and a writer rings it only when the owner said it sleeps (the
 * Disruptor's "lite blocking" strategy). V8 serialises Atomics.wait/notify behind one
 * process-wide lock, so a notify per record would make every writer contend on it.
 *
 * ```
 *   byte 0    | SLEEPING int32  1 = owner is (about to be) asleep  |  line 0
 *       128   | BELL     int32  bumped by the writer that wakes it |  line 1
 * ```
 *
 * No lost wake-up: the owner stores SLEEPING=1 and then looks at every ring's tail; a
 * writer stores its tail and then loads SLEEPING. Atomics are sequentially consistent,
 * so at least one of the two sees the other's store.
 */
const SLEEPING = 0;
const BELL = CACHE_LINE / 4;

/** Allocates the doorbell's shared memory; post it to every writer thread. */
export function createDoorbellStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(2 * CACHE_LINE);
}

export class Doorbell {
  private readonly words: Int32Array;
  /** The owner's sleep, made on its first sleep() (writers only ring). */
  private waiter: AsyncWaiter | undefined;

  constructor(storage: SharedArrayBuffer) {
    this.words = new Int32Array(storage);
  }

  /**
   * Writer side, after publishing: wakes the owner if it sleeps. Costs one Atomics.load
   * when the owner is awake; only the first writer to see it asleep notifies.
   */
  ring(): void {
    const words = this.words;
    if (Atomics.load(words, SLEEPING) !== 0 && Atomics.compareExchange(words, SLEEPING, 1, 0) === 1) {
      Atomics.add(words, BELL, 1);
      Atomics.notify(words, BELL);
    }
  }

  /**
   * Owner side: sleeps until a writer rings or about `timeoutMs` (one to two) passes,
   * unless `hasWork()` (checked after announcing the sleep) already finds something.
   * Never blocks the thread: it awaits an AsyncWaiter, whose period also bounds the cost
   * of any wake-up lost to a bug. Says why it returned: 'work' (found before sleeping),
   * 'ok' (rung), 'not-equal' (rung between announcing and waiting) or 'timed-out'.
   */
  async sleep(timeoutMs: number, hasWork: () => boolean): Promise<'work' | WaitOutcome> {
    const words = this.words;
    const bell = Atomics.load(words, BELL);
    Atomics.store(words, SLEEPING, 1);
    if (hasWork()) {
      Atomics.store(words, SLEEPING, 0);
      return 'work';
    }
    if (this.waiter?.periodMs !== timeoutMs) {
      this.waiter?.close();
      this.waiter = new AsyncWaiter(words, BELL, timeoutMs);
    }
    const outcome = await this.waiter.wait(bell);
    Atomics.store(words, SLEEPING, 0);
    return outcome;
  }

  /** Wakes a sleeping owner from any thread, e.g. to make it notice a shutdown request. */
  wake(): void {
    Atomics.add(this.words, BELL, 1);
    Atomics.notify(this.words, BELL);
  }
}
