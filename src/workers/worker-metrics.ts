/**
 * Per-worker request metrics in shared memory: the worker counts with plain stores (it is
 * the only writer), the owner's Prometheus endpoint reads them at scrape time. No message
 * per request ever crosses threads.
 *
 * ```
 *   float64 index
 *   0 ..                       responses by status (STATUS_CODES, then "other")
 *   LATENCY ..                 latency histogram: one count per bucket (cumulative
 *                              at read time), then +Inf, then sum (s), then count
 *   REJECTED ..                refused requests by REJECT_REASONS
 *   METRICS_ACCEPTED           metrics in accepted requests
 *   HEAP_RELEASES              heap releases after a quiet spell (settle-heap.ts)
 *   COLLECTIONS ..             GCs run for dropped buffers: scavenges, full (settle-heap.ts)
 * ```
 *
 * A reader may see one request's status counted before its latency: scrapes are stale by
 * a request or two, never torn (aligned float64 stores are atomic on the platforms Node
 * supports).
 */
import type { Collection } from './settle-heap.ts';

export const STATUS_CODES = [200, 202, 204, 400, 401, 404, 405, 408, 413, 415, 429, 431, 500, 503, 504] as const;
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;
export const REJECT_REASONS = [
  'bad_body',
  'no_client_id',
  'too_large',
  'unsupported_media_type',
  'slow_body',
  'not_found',
  'method_not_allowed',
  'ring_full',
  'shutting_down',
  'sink_failed',
  'overloaded',
  'too_many_connections',
  'internal_error',
  'sink_unknown',
  'unauthorized',
  'throttled',
  'disk_stalled',
  'pipelined',
  'slow_reader',
  'slow_handshake',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

const STATUS_OTHER = STATUS_CODES.length;
const LATENCY = STATUS_OTHER + 1;
const LATENCY_INF = LATENCY + LATENCY_BUCKETS_SECONDS.length;
const LATENCY_SUM = LATENCY_INF + 1;
const LATENCY_COUNT = LATENCY_SUM + 1;
const REJECTED = LATENCY_COUNT + 1;
const METRICS_ACCEPTED = REJECTED + REJECT_REASONS.length;
const HEAP_RELEASES = METRICS_ACCEPTED + 1;
const COLLECTIONS = HEAP_RELEASES + 1;
const SLOTS = COLLECTIONS + 2;

const STATUS_SLOT = new Map<number, number>(STATUS_CODES.map((s, i) => [s, i]));
const REASON_SLOT = new Map<string, number>(REJECT_REASONS.map((r, i) => [r, i]));

export function createWorkerMetricsStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * 8);
}

/** The worker's side: counts responses, latencies and rejections. */
export class WorkerMetrics {
  private readonly slots: Float64Array;
  constructor(storage: SharedArrayBuffer) {
    this.slots = new Float64Array(storage);
  }

  /** Counts one answered request with its status and latency in seconds. */
  response(status: number, seconds: number): void {
    const slots = this.slots;
    slots[STATUS_SLOT.get(status) ?? STATUS_OTHER]++;
    let b = 0;
    while (b < LATENCY_BUCKETS_SECONDS.length && seconds > LATENCY_BUCKETS_SECONDS[b]) b++;
    slots[LATENCY + b]++;
    slots[LATENCY_SUM] += seconds;
    slots[LATENCY_COUNT]++;
  }

  reject(reason: RejectReason): void {
    this.slots[REJECTED + REASON_SLOT.get(reason)!]++;
  }

  accepted(metrics: number): void {
    this.slots[METRICS_ACCEPTED] += metrics;
  }

  /** Counts one release of the worker's heap after a quiet spell. */
  heapReleased(): void {
    this.slots[HEAP_RELEASES]++;
  }

  /** Counts one GC the worker ran to free dropped request buffers. */
  collected(collection: Collection): void {
    this.slots[COLLECTIONS + (collection === 'scavenge' ? 0 : 1)]++;
  }
}

export interface WorkerMetricsSnapshot {
  statuses: Map<string, number>;
  /** Cumulative counts per bucket upper bound, ending with +Inf. */
  latencyBuckets: { le: string; count: number }[];
  latencySum: number;
  latencyCount: number;
  rejected: Map<RejectReason, number>;
  metricsAccepted: number;
  heapReleases: number;
  collections: { scavenge: number; full: number };
}

/** Reads a worker's metrics from any thread; stale by a request or two, see above. */
export function readWorkerMetrics(storage: SharedArrayBuffer): WorkerMetricsSnapshot {
  const slots = new Float64Array(storage);
  const statuses = new Map<string, number>(STATUS_CODES.map((s, i) => [String(s), slots[i]]));
  statuses.set('other', slots[STATUS_OTHER]);
  const latencyBuckets: { le: string; count: number }[] = [];
  let cumulative = 0;
  for (let b = 0; b <= LATENCY_BUCKETS_SECONDS.length; b++) {
    cumulative += slots[LATENCY + b];
    latencyBuckets.push({ le: b < LATENCY_BUCKETS_SECONDS.length ? String(LATENCY_BUCKETS_SECONDS[b]) : '+Inf', count: cumulative });
  }
  return {
    statuses,
    latencyBuckets,
    latencySum: slots[LATENCY_SUM],
    latencyCount: slots[LATENCY_COUNT],
    rejected: new Map(REJECT_REASONS.map((r, i) => [r, slots[REJECTED + i]])),
    metricsAccepted: slots[METRICS_ACCEPTED],
    heapReleases: slots[HEAP_RELEASES],
    collections: { scavenge: slots[COLLECTIONS], full: slots[COLLECTIONS + 1] },
  };
}
