/**
 * Waiting strategies of bench threads that find nothing to do.
 *
 * Producers facing a full ring (or queue, or window of unconsumed messages): on a
 * 2-core machine 16 producers that busy-retry take the CPU the one consumer needs to
 * empty their rings, so a producer retries only 4 times with Atomics.pause (the
 * consumer may be running on the other core and free space within a microsecond),
 * then gives its core away:
 *   - RingSpaceWait (ring producers, default): sleep until the consumer has drained a
 *     batch of this ring, woken by the ring's own WRITER_WAITS / DURABLE protocol;
 *   - Backoff (baselines, and ring producers with --full-wait sleep): Atomics.wait on a
 *     private word nobody notifies, i.e. a timed sleep, 5 µs doubling to 1 ms while the
 *     refusals go on (Linux's 50 µs timer slack makes the shortest ~55 µs).
 * Blocking is fine here because bench producers serve nothing else; a real HTTP worker
 * must never block its event loop and answers 503 + Retry-After instead (DESIGN.md).
 *
 * Consumers with nothing to read: linger() before sleeping on the doorbell.
 */

import { DURABLE, WRITER_WAITS } from '../../src/ring/ring-descriptor.ts';
import type { Doorbell } from '../../src/ring/doorbell.ts';

const SPINS = 4;
/** Safety net of RingSpaceWait: a missed wake-up costs at most this. */
const SPACE_WAIT_TIMEOUT_MS = 1;
const MIN_SLEEP_MS = 0.005;
const MAX_SLEEP_MS = 1;

/** Atomics.pause is in Node 24 (V8 13.6) but not yet in TypeScript's es2024 lib. */
const pause: (n?: number) => void =
  (Atomics as unknown as { pause?: (n?: number) => void }).pause?.bind(Atomics) ?? (() => {});

/** What a producer calls when a write is refused, and after a write succeeds. */
export interface FullWait {
  /** Times pause() slept (not the spins): reported as "full waits". */
  sleeps: number;
  pause(): void;
  reset(): void;
}

/** Back-off state of one producer; not thread-safe (one per producer thread). */
export class Backoff implements FullWait {
  sleeps = 0;
  private readonly word = new Int32Array(new SharedArrayBuffer(4));
  private streak = 0;
  private delayMs = MIN_SLEEP_MS;

  /** Call when the write was refused; returns after a spin or a sleep. */
  pause(): void {
    if (this.streak++ < SPINS) {
      pause(64);
      return;
    }
    this.sleeps++;
    Atomics.wait(this.word, 0, 0, this.delayMs);
    if (this.delayMs < MAX_SLEEP_MS) this.delayMs = Math.min(this.delayMs * 2, MAX_SLEEP_MS);
  }

  /** Call after a successful write; cheap enough to call on every write. */
  reset(): void {
    if (this.streak !== 0) {
      this.streak = 0;
      this.delayMs = MIN_SLEEP_MS;
    }
  }
}

/**
 * A ring producer's wait for space: sleep until the consumer frees some.
 * It uses the ring's own wake-up protocol (WRITER_WAITS / DURABLE, see
 * ring-descriptor.ts): announce WRITER_WAITS = 1, read DURABLE, Atomics.wait until
 * DURABLE moves. The owner stores HEAD (space freed) before DURABLE in every pass and
 * notifies when WRITER_WAITS is set, so the producer wakes right after the consumer
 * drained a batch of its ring, neither earlier (a timed sleep that finds the ring still
 * full) nor later (a timed sleep that leaves the consumer idle). No wake-up is lost: a
 * full ring will be read, and that pass's publish() sees WRITER_WAITS (stored before
 * DURABLE was read here). Only valid for writers that register no durable callbacks,
 * whose watcher uses the same words.
 */
export class RingSpaceWait implements FullWait {
  sleeps = 0;
  private readonly words: Int32Array;
  private streak = 0;

  constructor(ring: SharedArrayBuffer) {
    this.words = new Int32Array(ring);
  }

  pause(): void {
    if (this.streak++ < SPINS) {
      pause(64);
      return;
    }
    this.sleeps++;
    const words = this.words;
    Atomics.store(words, WRITER_WAITS, 1);
    Atomics.wait(words, DURABLE, Atomics.load(words, DURABLE), SPACE_WAIT_TIMEOUT_MS);
    Atomics.store(words, WRITER_WAITS, 0);
  }

  reset(): void {
    this.streak = 0;
  }
}

/** Atomics.pause calls between two looks at the rings: ~1 µs here (one pause ≈ 40 ns). */
const PAUSES_PER_CHECK = 25;

/**
 * Consumer side: before announcing sleep, keep looking for work for up to `us`
 * microseconds, pausing ~1 µs between looks so the producers' tail lines are not
 * pulled across cores on every iteration (in one measurement on the 2-core VM, a tight
 * poll of the tails cut one producer's rate from ~17 M/s to ~3-4 M/s).
 * Returns true as soon as `hasWork()` does, false after the time is up.
 *
 * Why linger at all: a consumer that sleeps the moment it is idle is woken by the very
 * next record, on this VM by a futex wake that the scheduler answers by running the
 * consumer on the producer's core; the two then take turns one record at a time
 * (measured: one record per ~20 µs). Lingering a few tens of µs keeps a busy consumer
 * awake without anyone paying for a notify.
 */
export function linger(us: number, hasWork: () => boolean): boolean {
  const until = performance.now() + us / 1000;
  do {
    for (let k = 0; k < PAUSES_PER_CHECK; k++) pause();
    if (hasWork()) return true;
  } while (performance.now() < until);
  return false;
}

/**
 * The consumer's idle step for the cases that sleep on a Doorbell: linger `spinUs`
 * checking for work, then sleep on the bell. Counts real sleeps, the time spent in them,
 * and timeouts that found work waiting (wake-ups the protocol lost).
 */
export class DoorbellIdle {
  sleeps = 0;
  sleepMs = 0;
  lostWakeups = 0;
  private readonly bell: Doorbell;
  private readonly spinUs: number;
  private readonly timeoutMs: number;

  constructor(bell: Doorbell, spinUs: number, timeoutMs: number) {
    this.bell = bell;
    this.spinUs = spinUs;
    this.timeoutMs = timeoutMs;
  }

  /** Returns once there may be work (or the sleep timed out). */
  async wait(hasWork: () => boolean): Promise<void> {
    if (this.spinUs > 0 && linger(this.spinUs, hasWork)) return;
    const before = performance.now();
    const outcome = await this.bell.sleep(this.timeoutMs, hasWork);
    if (outcome !== 'work') {
      this.sleeps++;
      this.sleepMs += performance.now() - before;
    }
    if (outcome === 'timed-out' && hasWork()) this.lostWakeups++;
  }
}
