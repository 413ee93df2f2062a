/**
 * Per-tenant counters, one block per worker in shared memory (the worker is the only
 * writer: plain float64 stores, no atomics), summed over the workers at scrape time by
 * the admin endpoint. Tenants come from the auth file only, so the label cardinality is
 * bounded by the slot count fixed at start; client-id mode keeps no per-tenant counters.
 *
 * ```
 *   float64 index  slot * FIELDS + field, fields: OUTCOMES (requests by outcome),
 *                  then samples accepted, samples throttled, bytes accepted
 * ```
 */

/** What became of an authenticated request. */
export const OUTCOMES = ['accepted', 'throttled', 'bad_request', 'too_large', 'unavailable', 'other'] as const;
export type TenantOutcome = (typeof OUTCOMES)[number];

const SAMPLES_ACCEPTED = OUTCOMES.length;
const SAMPLES_THROTTLED = SAMPLES_ACCEPTED + 1;
const BYTES_ACCEPTED = SAMPLES_THROTTLED + 1;
const FIELDS = BYTES_ACCEPTED + 1;

export function createTenantMetricsStorage(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, slots) * FIELDS * 8);
}

/** The outcome a status code stands for (2xx accepted, 429 throttled, ...). */
export function outcomeOf(status: number): TenantOutcome {
  if (status >= 200 && status < 300) return 'accepted';
  if (status === 429) return 'throttled';
  if (status === 413) return 'too_large';
  if (status === 400 || status === 415 || status === 408) return 'bad_request';
  if (status >= 500) return 'unavailable';
  return 'other';
}

const OUTCOME_INDEX = new Map<TenantOutcome, number>(OUTCOMES.map((o, i) => [o, i]));

/** The worker's side. */
export class TenantMetrics {
  readonly #slots: Float64Array;
  readonly #capacity: number;
  constructor(storage: SharedArrayBuffer) {
    this.#slots = new Float64Array(storage);
    this.#capacity = this.#slots.length / FIELDS;
  }

  /** Counts one answered request of tenant `slot` (-1: not a tenant, nothing counted). */
  answered(slot: number, status: number, samples: number, bytes: number): void {
    if (slot < 0 || slot >= this.#capacity) return;
    const base = slot * FIELDS;
    const outcome = outcomeOf(status);
    this.#slots[base + OUTCOME_INDEX.get(outcome)!]++;
    if (outcome === 'accepted') {
      this.#slots[base + SAMPLES_ACCEPTED] += samples;
      this.#slots[base + BYTES_ACCEPTED] += bytes;
    } else if (outcome === 'throttled') {
      this.#slots[base + SAMPLES_THROTTLED] += samples;
    }
  }
}

export interface TenantMetricsSnapshot {
  requests: Map<TenantOutcome, number>;
  samplesAccepted: number;
  samplesThrottled: number;
  bytesAccepted: number;
}

/** Sums the counters of `slot` over several workers' storages. */
export function readTenantMetrics(storages: SharedArrayBuffer[], slot: number): TenantMetricsSnapshot {
  const out: TenantMetricsSnapshot = { requests: new Map(OUTCOMES.map((o) => [o, 0])), samplesAccepted: 0, samplesThrottled: 0, bytesAccepted: 0 };
  for (const storage of storages) {
    const s = new Float64Array(storage);
    const base = slot * FIELDS;
    if (base + FIELDS > s.length) continue;
    OUTCOMES.forEach((o, i) => out.requests.set(o, out.requests.get(o)! + s[base + i]));
    out.samplesAccepted += s[base + SAMPLES_ACCEPTED];
    out.samplesThrottled += s[base + SAMPLES_THROTTLED];
    out.bytesAccepted += s[base + BYTES_ACCEPTED];
  }
  return out;
}
