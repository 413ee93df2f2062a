/**
 * Per-tenant rate limits shared by every worker, without a lock: one SharedArrayBuffer
 * of GCRA buckets (the generic cell rate algorithm, a token bucket kept as a single
 * number), updated with one compare-and-swap per bucket per request.
 *
 * Each bucket is one BigInt64 word: its theoretical arrival time (TAT) in nanoseconds
 * of `process.hrtime` (CLOCK_MONOTONIC, the same clock in every thread). Admitting a
 * request of cost n at rate r moves TAT to max(TAT, now) + n/r; the request is refused
 * when that would put TAT more than `burstSeconds` ahead of now. An empty TAT (<= now)
 * is a full bucket; a refill is implicit in time passing, so nobody has to run a timer.
 * A request costing more than a whole burst is admitted when the bucket is full (it
 * puts the bucket in debt): otherwise a tenant's largest requests could never pass.
 *
 * ```
 *   byte 128*slot  | SAMPLES_TAT  int64 ns |  BYTES_TAT  int64 ns |  ... one 128-byte line per tenant
 * ```
 *
 * One line per tenant: workers that write for different tenants never share a cache line.
 */
import { CACHE_LINE } from '../ring/ring-descriptor.ts';
import type { TenantLimits } from './auth-file.ts';

const WORDS_PER_SLOT = CACHE_LINE / 8;
const SAMPLES = 0;
const BYTES = 1;
/** Bounded retries of a lost CAS race; past them the request is admitted (never spin). */
const MAX_CAS_TRIES = 64;

export function createRateLimitStorage(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, slots) * CACHE_LINE);
}

/** Nanoseconds on the monotonic clock every thread shares. */
function nowNs(): bigint {
  return process.hrtime.bigint();
}

export class RateLimiter {
  readonly #words: BigInt64Array;
  readonly #clock: () => bigint;

  /** `clock` is for tests; it must be monotonic and shared by every thread. */
  constructor(storage: SharedArrayBuffer, clock: () => bigint = nowNs) {
    this.#words = new BigInt64Array(storage);
    this.#clock = clock;
  }

  /**
   * Takes `samples` and `bytes` from the tenant's buckets. Returns 0 when admitted, or
   * the milliseconds after which a retry can pass (nothing is taken then).
   */
  take(slot: number, limits: TenantLimits, samples: number, bytes: number): number {
    if (limits.samplesPerSecond <= 0 && limits.bytesPerSecond <= 0) return 0;
    const now = this.#clock();
    const base = slot * WORDS_PER_SLOT;
    const waitSamples = this.#take(base + SAMPLES, now, limits.samplesPerSecond, limits.burstSeconds, samples);
    if (waitSamples > 0n) return toMs(waitSamples);
    const waitBytes = this.#take(base + BYTES, now, limits.bytesPerSecond, limits.burstSeconds, bytes);
    if (waitBytes > 0n) {
      // Give back the samples taken above: a refused request costs its tenant nothing.
      if (limits.samplesPerSecond > 0) Atomics.sub(this.#words, base + SAMPLES, cost(samples, limits.samplesPerSecond));
      return toMs(waitBytes);
    }
    return 0;
  }

  /**
   * Whether the tenant is already over one of its limits: a check before reading a
   * body, so a throttled tenant's requests are refused without decoding them. Returns
   * the ms to wait, or 0.
   */
  blocked(slot: number, limits: TenantLimits): number {
    if (limits.samplesPerSecond <= 0 && limits.bytesPerSecond <= 0) return 0;
    const now = this.#clock();
    const base = slot * WORDS_PER_SLOT;
    const tau = burstNs(limits.burstSeconds);
    let wait = 0n;
    if (limits.samplesPerSecond > 0) {
      const ahead = Atomics.load(this.#words, base + SAMPLES) - now - tau;
      if (ahead > wait) wait = ahead;
    }
    if (limits.bytesPerSecond > 0) {
      const ahead = Atomics.load(this.#words, base + BYTES) - now - tau;
      if (ahead > wait) wait = ahead;
    }
    return wait > 0n ? toMs(wait) : 0;
  }

  #take(index: number, now: bigint, rate: number, burstSeconds: number, n: number): bigint {
    if (rate <= 0 || n <= 0) return 0n;
    const increment = cost(n, rate);
    const tau = burstNs(burstSeconds);
    const words = this.#words;
    for (let i = 0; i < MAX_CAS_TRIES; i++) {
      const tat = Atomics.load(words, index);
      const start = tat > now ? tat : now;
      const next = start + increment;
      if (next - now > tau && tat > now) {
        // Wait until the bucket has room for this request, or is full (for an oversized one).
        const untilRoom = next - tau - now;
        const untilFull = tat - now;
        return untilRoom < untilFull ? untilRoom : untilFull;
      }
      if (Atomics.compareExchange(words, index, tat, next) === tat) return 0n;
    }
    return 0n;
  }
}

function cost(n: number, rate: number): bigint {
  return BigInt(Math.ceil((n * 1e9) / rate));
}

function burstNs(burstSeconds: number): bigint {
  return BigInt(Math.round(burstSeconds * 1e9));
}

function toMs(ns: bigint): number {
  return Math.max(1, Math.ceil(Number(ns) / 1e6));
}
