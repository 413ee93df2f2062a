/**
 * Delivers consumed batches to a store over HTTP, as the consumer's batch handler: the
 * handler resolves (and the consumer commits) only once the store answered 2xx for every
 * request of the batch, or refused some for good and those records are in the dead letter.
 *
 * - Batching: a batch's samples are split into requests of at most `maxSamplesPerRequest`
 *   samples and about `maxBytesPerRequest` bytes, sent over `concurrency` lanes. Samples
 *   are sorted by timestamp first, a series always goes through the same lane (hash of its
 *   name and tags) and each lane sends in order, so a series' samples of a batch reach the
 *   store oldest first (Prometheus refuses a sample older than the series' newest).
 * - Retries: 5xx, 429, 408, connection errors and timeouts are retried with exponential
 *   backoff and jitter (Retry-After is honoured), without limit: the batch stays the only
 *   one in memory and the consumer reads nothing more meanwhile (it awaits the handler).
 * - Ownership: before every attempt the batch's owned() is checked and the batch's signal
 *   aborts waits; a batch whose partition was lost (a rebalance, a lapsed lease after the
 *   process was stopped) or whose consumer is stopping is abandoned with BatchAbandoned,
 *   sending nothing more and committing nothing: the partition's owner reads it again.
 * - Dead letter: records of a refused request (and records that are not the record
 *   format) go to the dead letter, durably, before the handler resolves.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchAbandoned } from '../batch-abandoned.ts';
import { materialize } from '../decode.ts';
import type { ConsumedBatch } from '../types.ts';
import type { DeadLetter, DeadLetterEntry } from './dead-letter.ts';
import { post } from './http-post.ts';
import type { PostOutcome } from './http-post.ts';
import { extractSamples, SeriesTable } from './samples.ts';
import type { SampleBatch, SeriesInfo, SkipReason } from './samples.ts';
import type { SinkMetrics } from './sink-metrics.ts';
import type { WireFormat } from './wire-format.ts';

export { BatchAbandoned };

/** pino's shape, reduced to what delivery logs. */
export interface DeliveryLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DeliveryOptions {
  format: WireFormat;
  url: string | URL;
  /** Extra request headers (authentication, tenant: `X-Scope-OrgID`, `Authorization: Token …`). */
  headers?: Record<string, string>;
  /** Samples per request at most (default 10,000). */
  maxSamplesPerRequest?: number;
  /** Uncompressed request size to aim below, estimated from the samples (default 4 MiB). */
  maxBytesPerRequest?: number;
  /** Requests in flight at once per batch (default 2). */
  concurrency?: number;
  /** One request's deadline (default 30 s); no answer counts as retryable. */
  requestTimeoutMs?: number;
  /** First retry delay (default 100 ms), doubling up to maxBackoffMs (default 10 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  deadLetter: DeadLetter;
  group: string;
  metrics?: SinkMetrics;
  logger?: DeliveryLogger;
}

export const DEFAULT_MAX_SAMPLES_PER_REQUEST = 10_000;
export const DEFAULT_MAX_BYTES_PER_REQUEST = 4 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 2;
/** How often a Kafka-mode retry's backoff offers kafkajs a heartbeat (see waitBeforeRetry()). */
const HEARTBEAT_SLICE_MS = 250;

const silent: DeliveryLogger = { info() {}, warn() {}, error() {} };

/** A rough uncompressed size of one sample in a request, to cut requests by bytes. */
function sampleBytes(s: SeriesInfo): number {
  return s.key.length + 20; // the series key holds name, tags and their lengths
}

/** One request's samples: indexes into the batch, oldest first. */
type Chunk = Uint32Array;

/** The batch handler towards one store. See the module comment. */
export class Delivery {
  readonly #o: DeliveryOptions;
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #maxSamples: number;
  readonly #maxBytes: number;
  readonly #lanes: number;
  readonly #log: DeliveryLogger;
  /** Lanes retrying right now (the retrying gauge is 1 while any is). */
  #retrying = 0;
  /** Whether the store was failing, to log "store back" once. */
  #failing = false;
  #skippedSinceLog = new Map<SkipReason, number>();
  /** Series seen so far, with what the wire format cached about them (labels encoded once). */
  readonly #series = new SeriesTable();
  #lastSkipLog = 0;

  constructor(opts: DeliveryOptions) {
    this.#o = opts;
    this.#url = opts.format.prepareUrl(new URL(opts.url));
    this.#maxSamples = Math.max(1, opts.maxSamplesPerRequest ?? DEFAULT_MAX_SAMPLES_PER_REQUEST);
    this.#maxBytes = Math.max(1024, opts.maxBytesPerRequest ?? DEFAULT_MAX_BYTES_PER_REQUEST);
    this.#lanes = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
    this.#log = opts.logger ?? silent;
    this.#headers = { ...Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])) };
  }

  /** The BatchHandler: resolves when the batch may be committed. */
  readonly deliver = async (batch: ConsumedBatch): Promise<void> => {
    await this.#checkOwned(batch);
    const { samples, skipped, undecodable } = extractSamples(batch.records, this.#series);
    const refused = new Map<number, { reason: string; status?: number }>();
    for (const u of undecodable) refused.set(u.record, { reason: `not the record format: ${u.reason}` });

    // Oldest first (stable: ties keep offset order). Records need not be in time order, and
    // Prometheus refuses a sample older than what it already has of the series (400).
    const lanes = this.#split(samples, samples.byTime(), skipped);
    let delivered = 0;
    // One lane giving up (abandoned) stops the others at once: nothing more of this batch is sent.
    const stopLanes = new AbortController();
    const signal = batch.signal ? AbortSignal.any([batch.signal, stopLanes.signal]) : stopLanes.signal;
    const results = await Promise.allSettled(
      lanes.map(async (requests) => {
        for (const chunk of requests) {
          const outcome = await this.#sendWithRetry(batch, signal, samples, chunk);
          if (outcome.kind === 'ok') {
            delivered += chunk.length;
            continue;
          }
          for (const i of chunk) {
            const r = samples.records[i];
            if (!refused.has(r)) refused.set(r, { reason: outcome.message, status: outcome.status });
          }
        }
      }).map((p) => p.catch((err: unknown) => {
        stopLanes.abort(err);
        throw err;
      })),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      this.#o.metrics?.abandoned.inc({ partition: String(batch.partition) });
      // The first lane's error, not a lane that was only stopped by it: its cause says why
      // (the Kafka consumer rejoins differently for a rebalance).
      throw stopLanes.signal.aborted ? stopLanes.signal.reason : (failed as PromiseRejectedResult).reason;
    }

    if (refused.size > 0) await this.#deadLetter(batch, refused);
    const m = this.#o.metrics;
    if (m) {
      const p = String(batch.partition);
      m.recordsDelivered.inc({ partition: p }, batch.records.length - refused.size);
      m.samplesDelivered.inc(delivered);
      for (const [reason, n] of skipped) m.samplesSkipped.inc({ reason }, n);
    }
    this.#reportSkips(batch, skipped);
  };

  /**
   * Splits samples (`order`: oldest first) into lanes (by series) and each lane into
   * requests within the limits; samples the format cannot carry are counted in `skipped`.
   */
  #split(samples: SampleBatch, order: Uint32Array, skipped: Map<SkipReason, number>): Chunk[][] {
    const fmt = this.#o.format;
    const nLanes = this.#lanes;
    // Pass 1: each sample's lane (or -1: unrepresentable) and each lane's sample count.
    const laneOf = new Int8Array(order.length);
    const counts = new Array<number>(nLanes).fill(0);
    let unrepresentable = 0;
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      if (!fmt.representable(samples, i)) {
        laneOf[k] = -1;
        unrepresentable++;
        continue;
      }
      const lane = nLanes === 1 ? 0 : samples.series[i].hash % nLanes;
      laneOf[k] = lane;
      counts[lane]++;
    }
    if (unrepresentable > 0) skipped.set('unrepresentable', (skipped.get('unrepresentable') ?? 0) + unrepresentable);
    // Pass 2: each lane's samples in time order, cut into requests.
    const lanes: Chunk[][] = [];
    const laneSamples = counts.map((c) => new Uint32Array(c));
    const fill = new Array<number>(nLanes).fill(0);
    for (let k = 0; k < order.length; k++) if (laneOf[k] >= 0) laneSamples[laneOf[k]][fill[laneOf[k]]++] = order[k];
    for (const all of laneSamples) {
      if (all.length === 0) continue;
      const requests: Chunk[] = [];
      let from = 0;
      let bytes = 0;
      for (let k = 0; k < all.length; k++) {
        const size = sampleBytes(samples.series[all[k]]);
        if (k > from && (k - from >= this.#maxSamples || bytes + size > this.#maxBytes)) {
          requests.push(all.subarray(from, k));
          from = k;
          bytes = 0;
        }
        bytes += size;
      }
      requests.push(all.subarray(from));
      lanes.push(requests);
    }
    return lanes;
  }

  async #checkOwned(batch: ConsumedBatch, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new BatchAbandoned(`partition ${batch.partition}: another request of the batch was abandoned`);
    if (batch.signal?.aborted) throw new BatchAbandoned(`partition ${batch.partition}: the consumer is stopping`);
    if (batch.owned && !(await batch.owned())) throw new BatchAbandoned(`partition ${batch.partition}: no longer owned by this member`);
  }

  /** Sends one request until the store answers 2xx or refuses it for good. */
  async #sendWithRetry(batch: ConsumedBatch, signal: AbortSignal, samples: SampleBatch, chunk: Chunk): Promise<Extract<PostOutcome, { kind: 'ok' | 'refused' }>> {
    const m = this.#o.metrics;
    const { body, headers } = this.#o.format.encode(samples, chunk);
    const allHeaders = { ...headers, ...this.#headers };
    let attempt = 0;
    let retrying = false;
    try {
      for (;;) {
        await this.#checkOwned(batch, signal);
        const end = m?.requestDuration.startTimer();
        let outcome: PostOutcome;
        try {
          outcome = await post(this.#url, body, allHeaders, this.#o.requestTimeoutMs ?? 30_000, signal);
        } catch {
          throw new BatchAbandoned(`partition ${batch.partition}: the consumer is stopping`);
        } finally {
          end?.();
        }
        m?.requests.inc({ outcome: outcome.kind });
        if (outcome.kind === 'ok') {
          if (this.#failing) {
            this.#failing = false;
            this.#log.info({ partition: batch.partition, attempts: attempt + 1 }, 'sink: the store accepts writes again');
          }
          return outcome;
        }
        if (outcome.kind === 'refused') {
          m?.sinkErrors.inc({ kind: '4xx' });
          return outcome;
        }
        m?.sinkErrors.inc({ kind: outcome.reason === 'status' ? (outcome.status === 429 || outcome.status === 408 ? String(outcome.status) : '5xx') : outcome.reason });
        if (!retrying) {
          retrying = true;
          if (this.#retrying++ === 0) m?.retrying.set(1);
        }
        const min = this.#o.minBackoffMs ?? 100;
        const max = this.#o.maxBackoffMs ?? 10_000;
        const backoff = Math.min(max, min * 2 ** Math.min(attempt, 20)) * (0.5 + Math.random() / 2);
        const delay = Math.min(max, Math.max(backoff, outcome.retryAfterMs ?? 0));
        if (!this.#failing || attempt === 0) {
          this.#failing = true;
          this.#log.warn(
            { partition: batch.partition, error: outcome.message, retryInMs: Math.round(delay) },
            'sink: the store did not take a request; retrying (consuming paused)',
          );
        }
        attempt++;
        try {
          await waitBeforeRetry(batch, delay, signal);
        } catch (err) {
          throw new BatchAbandoned(`partition ${batch.partition}: ${(err as Error).message}`, { cause: err });
        }
      }
    } finally {
      if (retrying && --this.#retrying === 0) m?.retrying.set(0);
    }
  }

  /** Writes refused records to the dead letter, retrying on failure like a request. */
  async #deadLetter(batch: ConsumedBatch, refused: Map<number, { reason: string; status?: number }>): Promise<void> {
    const entries: DeadLetterEntry[] = [...refused].sort((a, b) => a[0] - b[0]).map(([i, why]) => ({ record: materialize(batch.records[i]), ...why }));
    for (let attempt = 0; ; attempt++) {
      await this.#checkOwned(batch);
      try {
        await this.#o.deadLetter.write(this.#o.group, this.#o.format.name, entries);
        break;
      } catch (err) {
        this.#log.error({ partition: batch.partition, error: (err as Error).message }, 'sink: writing the dead letter failed; retrying');
        try {
          await sleep(Math.min(10_000, 100 * 2 ** Math.min(attempt, 10)), undefined, { signal: batch.signal });
        } catch {
          throw new BatchAbandoned(`partition ${batch.partition}: the consumer is stopping`);
        }
      }
    }
    this.#o.metrics?.deadLettered.inc({ partition: String(batch.partition) }, entries.length);
    const first = entries[0];
    this.#log.error(
      {
        partition: batch.partition,
        records: entries.length,
        offsets: `${first.record.offset}..${entries[entries.length - 1].record.offset}`,
        status: first.status,
        error: first.reason,
        deadLetter: this.#o.deadLetter.where,
      },
      'sink: records refused for good went to the dead letter; the group moves on',
    );
  }

  /** Logs skipped entries at most once a minute (with the totals since the last line): they are counted anyway. */
  #reportSkips(batch: ConsumedBatch, skipped: Map<SkipReason, number>): void {
    for (const [reason, n] of skipped) this.#skippedSinceLog.set(reason, (this.#skippedSinceLog.get(reason) ?? 0) + n);
    if (this.#skippedSinceLog.size === 0 || Date.now() - this.#lastSkipLog < 60_000) return;
    this.#lastSkipLog = Date.now();
    this.#log.warn(
      { partition: batch.partition, skipped: Object.fromEntries(this.#skippedSinceLog) },
      `sink: entries the ${this.#o.format.name} protocol cannot carry were skipped (counted in metricstream_consumer_samples_skipped_total)`,
    );
    this.#skippedSinceLog.clear();
  }

  /** Closes the dead letter (a Kafka producer). */
  async close(): Promise<void> {
    await this.#o.deadLetter.close();
  }
}

/**
 * Waits `ms` before a retry. In Kafka mode it heartbeats every HEARTBEAT_SLICE_MS meanwhile
 * (kafkajs sends one only when its interval has passed, and on its own only between
 * batches): a backoff longer than the session timeout keeps the membership, and a rebalance
 * (a member joining) is seen within one heartbeat interval, when the heartbeat throws.
 */
async function waitBeforeRetry(batch: ConsumedBatch, ms: number, signal: AbortSignal): Promise<void> {
  if (batch.heartbeat === undefined) return sleep(ms, undefined, { signal });
  for (let left = ms; left > 0; left -= HEARTBEAT_SLICE_MS) {
    await sleep(Math.min(left, HEARTBEAT_SLICE_MS), undefined, { signal });
    await batch.heartbeat();
  }
}
