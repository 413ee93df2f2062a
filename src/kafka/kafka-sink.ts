/**
 * The Kafka sink: one kafkajs producer, owned by the owner thread, fed whole drained
 * batches with one sendBatch each. kafkajs has no linger of its own; the owner's group
 * commit (append again only when the previous append resolved) is the batching. kafkajs
 * writes one record batch per partition per request, and a broker refuses one above its
 * message.max.bytes; so an append whose share for one partition exceeds
 * maxPartitionBatchBytes goes out as consecutive sendBatch calls (in order; after a failed
 * one the rest are not tried and fail too).
 *
 * Delivery contract (src/sink/sink.ts):
 * - acks -1 / 1: offsets[i] is the offset the broker assigned to record i: the partition's
 *   acknowledged base offset + the record's index among that partition's records in the
 *   batch (kafkajs keeps batch order within a partition and sends one record batch per
 *   partition).
 * - acks 0: the broker answers nothing. Records that were written to the socket get
 *   offset 0 and the result carries `unacknowledged: true`: "sent, position unknown".
 * - failure: offset -1 and `error`, after kafkajs's retries, bounded by
 *   `deliveryTimeoutMs`. Two kinds, told apart in the result:
 *   - `unknown[i] = 1`: the record was handed to kafkajs's sendBatch and no clean refusal
 *     came back (a request timeout, a connection lost after the request was written, a
 *     partial success across partitions or brokers, which kafkajs reports as
 *     all-or-nothing, or close() giving up). It may be in the topic; a client retry then
 *     duplicates it. Answered 504.
 *   - otherwise it is not in the topic: never sent (not ready, closed, a later chunk after
 *     a failed one) or refused by the broker for its one partition. Answered 503.
 *   Nothing is ever reported durable that Kafka did not acknowledge.
 * - refused (`refused[i] = 1`, not sent): a record larger than maxPartitionBatchBytes,
 *   which no produce request of ours may carry. Answered 413.
 *
 * Readiness: false until the producer connected and the topic's metadata was read; false
 * again after a failed append (or a failed idle probe) until a background probe reaches
 * the cluster. While not ready, append fails fast with -1 (the gateway answers 503)
 * instead of waiting for a timeout per batch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Admin, type Kafka as KafkaClient, type Message, type Producer } from 'kafkajs';
import { CONTENT_TYPE_NAMES, type AppendResult, type Sink, type SinkRecord } from '../sink/sink.ts';
import { settlesWithin } from '../sink/settles-within.ts';
import type { CompressionName } from './codec-impl.ts';
import {
  acquireCompressPool,
  KAFKAJS_COMPRESSION,
  registerKafkaCodecs,
  releaseCompressPool,
} from './compress-pool.ts';
import { kafkajsLogCreator, stderrLogger, type SinkLogger } from './kafkajs-log.ts';
import { installProduceEncoder } from './produce-encoder.ts';
import { fetchPartitionCount } from './topic-metadata.ts';
import type { KafkaSecurity } from './kafka-security.ts';

const { Kafka, logLevel } = kafkajs;

export interface KafkaSinkOptions {
  brokers: string[];
  topic: string;
  /** -1 = all in-sync replicas, 1 = leader, 0 = no acknowledgement. */
  acks: -1 | 1 | 0;
  compression: CompressionName;
  /** Idempotent producer: requires acks -1; sends with maxInFlightRequests 1. */
  idempotent: boolean;
  /** close() waits at most this long for the in-flight append and the disconnect. */
  flushTimeoutMs: number;
  /** kafkajs retries of one sendBatch (default 3). */
  retries?: number;
  clientId?: string;
  /** Default: warn and error lines as JSON on stderr. */
  logger?: SinkLogger;
  /** TLS and SASL options for kafkajs (src/kafka/kafka-security.ts). */
  security?: KafkaSecurity;
  /** Bound on one request/response (default 10 000). */
  requestTimeoutMs?: number;
  /** Bound on one TCP connect (default 3000). */
  connectionTimeoutMs?: number;
  /** Bound on one append, retries included (default: derived from the two above). */
  deliveryTimeoutMs?: number;
  /** When ready and idle this long, probe the cluster's metadata (default 10 000; 0 = never). */
  probeIntervalMs?: number;
  /**
   * The partition count records were partitioned for (the gateway's --partitions). When
   * the topic has another count the sink never becomes ready: producing would put a client
   * on a different partition than in the local log. Unset: accept any count.
   */
  expectPartitions?: number;
  /**
   * Upper bound on one partition's uncompressed bytes in one sendBatch (default 900 000,
   * under Kafka's default message.max.bytes of 1 048 588). A larger append is sent as
   * consecutive sendBatch calls.
   */
  maxPartitionBatchBytes?: number;
}

/** What close() left behind. */
export interface CloseReport {
  /** Records of an append still unresolved when the flush timeout ran out. */
  undelivered: number;
}

const RETRY_BACKOFF_MS = 100;
const RETRY_MAX_BACKOFF_MS = 2000;
const RECONNECT_MAX_BACKOFF_MS = 5000;

/** Errors that belong to the batch, not to the connection: the sink stays ready. */
const BATCH_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TIMESTAMP',
  'UNSUPPORTED_COMPRESSION_TYPE',
]);

class DeadlineError extends Error {}
/** close() stopped waiting for the append in flight. */
class GiveUpError extends Error {}

/** Consecutive records of one append that go out in one sendBatch. */
interface Chunk {
  /** Indices into the append's batch, ascending. */
  indices: number[];
  messages: Message[];
}

/** What kafkajs's sendBatch resolves with, per partition. */
interface RecordMeta {
  partition: number;
  errorCode: number;
  baseOffset?: string;
}

/** Bytes a record adds to a record batch beyond key and value: varints, header, attributes. */
const RECORD_OVERHEAD_BYTES = 64;

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  const base = e.message;
  if (cause instanceof Error && cause.message && !base.includes(cause.message)) return `${base}: ${cause.message}`;
  return base;
}

function errorTypes(e: unknown): string[] {
  const types: string[] = [];
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 5; depth++) {
    const t = (x as { type?: unknown }).type;
    if (typeof t === 'string') types.push(t);
    x = (x as { cause?: unknown }).cause;
  }
  return types;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Header objects shared by every message: kafkajs only reads them. */
const HEADERS: Record<number, { 'content-type': Buffer }> = {};
function headersFor(contentType: number): { 'content-type': Buffer } {
  let h = HEADERS[contentType];
  if (!h) {
    h = { 'content-type': Buffer.from(CONTENT_TYPE_NAMES[contentType] ?? 'application/octet-stream') };
    HEADERS[contentType] = h;
  }
  return h;
}

function failAll(n: number, error: string): AppendResult {
  return { offsets: new Float64Array(n).fill(-1), error };
}

/**
 * Where a KafkaSink is in its life:
 *
 *   created --open()--> connecting <--connected / a request failed or timed out--> ready
 *                            \                                                     /
 *                             `------------------> closed <-----------------------'
 *
 * connecting: appends fail at once (-1, answered 503) while the recovery loop reconnects;
 * ready: appends are sent; closed (closeWithReport): appends fail, nothing reconnects.
 */
type KafkaSinkState = 'created' | 'connecting' | 'ready' | 'closed';

/** Sink that produces to one Kafka topic through one kafkajs producer. */
export class KafkaSink implements Sink {
  readonly name = 'kafka';
  private readonly opts: Required<Omit<KafkaSinkOptions, 'logger' | 'clientId' | 'expectPartitions' | 'security'>> & {
    clientId: string;
    expectPartitions: number | undefined;
  };
  private readonly log: SinkLogger;
  private readonly kafka: KafkaClient;
  private producer: Producer | null = null;
  private admin: Admin | null = null;
  private partitions: number | undefined;
  private state: KafkaSinkState = 'created';
  private usesPool = false;
  private lastError = 'not connected yet';
  private lastActivity = 0;
  private recovering: Promise<void> | null = null;
  private readonly stopRecovery = new AbortController();
  private probeTimer: NodeJS.Timeout | null = null;
  /** The running append (the owner runs one at a time) and its records not yet resolved. */
  private inflight: { unresolved: number; done: Promise<unknown> } | null = null;
  /** Aborted by close() when its deadline passes: the running send gives up. */
  private readonly giveUp = new AbortController();
  /** Request timeouts seen since the current chunk's send began (a sign it may be stored). */
  private timeoutsSeen = 0;
  private report: CloseReport | null = null;

  constructor(options: KafkaSinkOptions) {
    if (options.idempotent && options.acks !== -1) {
      throw new Error('the idempotent producer requires acks -1 (all)');
    }
    if (!(options.compression in KAFKAJS_COMPRESSION)) {
      throw new Error(`unknown compression ${options.compression}`);
    }
    const retries = options.retries ?? 3;
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    const connectionTimeoutMs = options.connectionTimeoutMs ?? 3000;
    // kafkajs's worst case for one sendBatch: every attempt may reconnect, refresh
    // metadata and time out the produce request, with backoff between attempts.
    const derived =
      (retries + 1) * (2 * requestTimeoutMs + connectionTimeoutMs) + retries * RETRY_MAX_BACKOFF_MS;
    this.opts = {
      brokers: options.brokers,
      topic: options.topic,
      acks: options.acks,
      compression: options.compression,
      idempotent: options.idempotent,
      flushTimeoutMs: options.flushTimeoutMs,
      retries,
      clientId: options.clientId ?? 'metricstream',
      requestTimeoutMs,
      connectionTimeoutMs,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? derived,
      probeIntervalMs: options.probeIntervalMs ?? 10_000,
      expectPartitions: options.expectPartitions,
      maxPartitionBatchBytes: options.maxPartitionBatchBytes ?? 900_000,
    };
    this.log = options.logger ?? stderrLogger;
    this.kafka = new Kafka({
      clientId: this.opts.clientId,
      brokers: this.opts.brokers,
      ...options.security,
      connectionTimeout: connectionTimeoutMs,
      requestTimeout: requestTimeoutMs,
      enforceRequestTimeout: true,
      // cluster-level retry: connects and metadata refreshes inside one attempt
      retry: { retries: 2, initialRetryTime: RETRY_BACKOFF_MS, maxRetryTime: 1000 },
      logLevel: logLevel.WARN,
      // Bounded retries are deliberate: a failed idempotent send gets a fresh producer id.
      logCreator: kafkajsLogCreator(this.log, [/Limiting retries for the idempotent producer/]),
    });
  }

  /** Partition count of the topic as last read from metadata; undefined before that. */
  partitionCount(): number | undefined {
    return this.partitions;
  }

  /** Why the sink is not ready (or the last failure), for logs and /readyz bodies. */
  lastFailure(): string {
    return this.lastError;
  }

  /**
   * Connects once; when the cluster is unreachable it still resolves (not ready) and keeps
   * reconnecting in the background with backoff.
   */
  async open(): Promise<void> {
    if (this.state !== 'created') return;
    this.state = 'connecting';
    registerKafkaCodecs();
    installProduceEncoder();
    if (this.opts.compression !== 'none') {
      acquireCompressPool();
      this.usesPool = true;
    }
    try {
      await this.connectOnce();
    } catch (e) {
      this.setNotReady(e);
      this.recover();
    }
    this.scheduleProbe();
  }

  isReady(): boolean {
    return this.state === 'ready';
  }

  async append(batch: SinkRecord[]): Promise<AppendResult> {
    const n = batch.length;
    if (this.state === 'closed') return failAll(n, 'kafka sink closed');
    if (this.state !== 'ready' || !this.producer || this.partitions === undefined) {
      this.recover();
      return failAll(n, `kafka not ready: ${this.lastError}`);
    }
    if (n === 0) return { offsets: new Float64Array(0) };
    this.lastActivity = Date.now();

    const offsets = new Float64Array(n);
    const { chunks, rangeError, refused } = this.split(batch, offsets);
    let queued = 0;
    for (const c of chunks) queued += c.indices.length;
    const inflight = { unresolved: queued, done: Promise.resolve() as Promise<unknown> };
    const run = this.sendChunks(batch, chunks, offsets, rangeError, inflight).then((result) => {
      if (refused !== undefined) {
        result.refused = refused;
        result.error ??= `record larger than ${this.opts.maxPartitionBatchBytes} bytes (--kafka-request-bytes)`;
      }
      return result;
    });
    inflight.done = run;
    this.inflight = inflight;
    try {
      return await run;
    } finally {
      this.inflight = null;
    }
  }

  private async sendChunks(
    batch: SinkRecord[],
    chunks: Chunk[],
    offsets: Float64Array,
    rangeError: string | undefined,
    inflight: { unresolved: number },
  ): Promise<AppendResult> {
    let error = rangeError;
    let unknown: Uint8Array | undefined;
    for (let c = 0; c < chunks.length; c++) {
      const chunk = chunks[c];
      let sent = false;
      try {
        if (this.state === 'closed' || !this.producer) throw new Error('kafka sink closed');
        this.timeoutsSeen = 0;
        sent = true;
        const meta = await this.send(chunk.messages);
        if (this.opts.acks === 0) {
          for (const i of chunk.indices) offsets[i] = 0;
        } else {
          error = this.mapOffsets(batch, chunk.indices, offsets, meta) ?? error;
        }
        inflight.unresolved -= chunk.indices.length;
        // a request timed out on the way (readiness dropped) but a retry got through
        if (this.state === 'connecting') this.state = 'ready';
      } catch (e) {
        error = errorText(e);
        const batchOnly = errorTypes(e).some((t) => BATCH_ERRORS.has(t));
        // "Not stored" only when the broker itself refused, for one partition, with no
        // timeout on the way; anything else sent may have been written (see the module comment).
        const onePartition = chunk.messages.every((m) => m.partition === chunk.messages[0].partition);
        if (sent && !(batchOnly && onePartition && this.timeoutsSeen === 0)) {
          unknown ??= new Uint8Array(batch.length);
          for (const i of chunk.indices) unknown[i] = 1;
        }
        this.log.warn({ err: error, records: inflight.unresolved, batchOnly, outcomeUnknown: sent && unknown !== undefined }, 'kafka append failed');
        if (e instanceof GiveUpError) {
          // close() gave up: no reset, no reconnect, the sink is closing
        } else if (!batchOnly) {
          this.setNotReady(e);
          if (this.opts.idempotent || e instanceof DeadlineError) await this.resetProducer();
          this.recover();
        }
        // this chunk and every later one: later chunks are not tried, which keeps each
        // partition's records in order (no later record lands before an earlier failed one)
        for (let k = c; k < chunks.length; k++) for (const i of chunks[k].indices) offsets[i] = -1;
        inflight.unresolved = 0;
        break;
      }
    }
    const result: AppendResult = { offsets };
    if (error !== undefined) result.error = error;
    if (unknown !== undefined) result.unknown = unknown;
    if (this.opts.acks === 0) result.unacknowledged = true;
    return result;
  }

  /**
   * Turns records into kafkajs messages, in batch order, cut into consecutive chunks so
   * that no partition's share of one chunk exceeds maxPartitionBatchBytes (kafkajs writes
   * one record batch per partition per request; a broker rejects one larger than its
   * message.max.bytes). Records for a partition the topic lacks get -1 here; a record
   * larger than maxPartitionBatchBytes on its own gets -1 and `refused` (never sent).
   */
  private split(batch: SinkRecord[], offsets: Float64Array): { chunks: Chunk[]; rangeError?: string; refused?: Uint8Array } {
    const partitions = this.partitions ?? 0;
    const limit = this.opts.maxPartitionBatchBytes;
    const bytes = new Float64Array(partitions);
    const chunks: Chunk[] = [];
    let chunk: Chunk = { indices: [], messages: [] };
    let rangeError: string | undefined;
    let refused: Uint8Array | undefined;
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i];
      const p = r.partition;
      if (!(Number.isInteger(p) && p >= 0 && p < partitions)) {
        offsets[i] = -1;
        rangeError = `partition ${p} out of range: topic ${this.opts.topic} has ${partitions}`;
        continue;
      }
      const size = r.key.byteLength + r.value.byteLength + RECORD_OVERHEAD_BYTES;
      if (size > limit) {
        offsets[i] = -1;
        refused ??= new Uint8Array(batch.length);
        refused[i] = 1;
        continue;
      }
      if (bytes[p] > 0 && bytes[p] + size > limit) {
        chunks.push(chunk);
        chunk = { indices: [], messages: [] };
        bytes.fill(0);
      }
      bytes[p] += size;
      chunk.indices.push(i);
      chunk.messages.push({
        partition: p,
        key: asBuffer(r.key),
        value: asBuffer(r.value),
        headers: headersFor(r.contentType),
        timestamp: String(r.timestamp),
      });
    }
    if (chunk.indices.length > 0) chunks.push(chunk);
    return refused !== undefined ? { chunks, rangeError, refused } : { chunks, rangeError };
  }

  /**
   * Largest record (key + value) one produce request of ours may carry
   * (maxPartitionBatchBytes less the per-record overhead): larger ones are refused.
   */
  get maxRecordBytes(): number {
    return this.opts.maxPartitionBatchBytes - RECORD_OVERHEAD_BYTES;
  }

  /** Whether append() would refuse this record for good (see maxRecordBytes). */
  refuses(record: SinkRecord): boolean {
    return record.key.byteLength + record.value.byteLength > this.maxRecordBytes;
  }

  /**
   * One sendBatch, bounded by deliveryTimeoutMs and by close()'s deadline; resolves with
   * kafkajs's RecordMetadata.
   */
  private async send(messages: Message[]): Promise<RecordMeta[]> {
    if (this.giveUp.signal.aborted) throw new GiveUpError('kafka sink closed: gave up at the flush deadline');
    const send = this.producer!.sendBatch({
      topicMessages: [{ topic: this.opts.topic, messages }],
      acks: this.opts.acks,
      compression: KAFKAJS_COMPRESSION[this.opts.compression],
      timeout: this.opts.requestTimeoutMs,
    });
    let timer: NodeJS.Timeout | undefined;
    let onGiveUp: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DeadlineError(`no acknowledgement within ${this.opts.deliveryTimeoutMs} ms`)),
        this.opts.deliveryTimeoutMs,
      );
      onGiveUp = () => reject(new GiveUpError('no acknowledgement by the flush deadline (--flush-timeout): gave up'));
      this.giveUp.signal.addEventListener('abort', onGiveUp, { once: true });
    });
    send.catch(() => {}); // abandoned after a deadline: its late failure is nobody's business
    try {
      return await Promise.race([send, deadline]);
    } finally {
      clearTimeout(timer);
      this.giveUp.signal.removeEventListener('abort', onGiveUp!);
    }
  }

  /**
   * Fills offsets of the chunk's records from the per-partition base offsets the brokers
   * acknowledged; returns an error text if a partition got no acknowledgement.
   */
  private mapOffsets(
    batch: SinkRecord[],
    indices: number[],
    offsets: Float64Array,
    meta: RecordMeta[],
  ): string | undefined {
    const partitions = this.partitions ?? 0;
    const next = new Float64Array(partitions).fill(-1);
    for (const m of meta) {
      if (m.errorCode === 0 && m.baseOffset !== undefined && m.partition < partitions) {
        next[m.partition] = Number(m.baseOffset);
      }
    }
    let error: string | undefined;
    for (const i of indices) {
      const p = batch[i].partition;
      if (next[p] < 0) {
        offsets[i] = -1;
        error = `no acknowledgement for partition ${p}`;
        continue;
      }
      offsets[i] = next[p]++;
    }
    return error;
  }

  /**
   * Flushes until `deadline` (default: flushTimeoutMs from now) and disconnects (see
   * closeWithReport). Resolves with 0: the records of an append it gave up on are reported
   * in that append's result (unknown or -1), which the caller counts (Sink.close).
   */
  async close(deadline?: number): Promise<number> {
    await this.closeWithReport(deadline);
    return 0;
  }

  /**
   * Stops appends, waits until `deadline` (default: flushTimeoutMs from now) for the
   * in-flight append, then makes it give up (it resolves at once, its unacknowledged
   * records `unknown`, the ones never sent -1), and disconnects. Reports how many records
   * were still undelivered when the wait ran out.
   */
  async closeWithReport(deadlineAt?: number): Promise<CloseReport> {
    if (this.report) return this.report;
    const deadline = deadlineAt ?? Date.now() + this.opts.flushTimeoutMs;
    this.state = 'closed';
    this.stopRecovery.abort();
    if (this.probeTimer) clearTimeout(this.probeTimer);
    let undelivered = 0;
    const inflight = this.inflight;
    if (inflight) {
      const finished = await Promise.race([
        inflight.done.then(
          () => true,
          () => true,
        ),
        sleep(Math.max(0, deadline - Date.now()), false, { ref: false }),
      ]);
      if (!finished) {
        undelivered = inflight.unresolved;
        this.giveUp.abort();
        await inflight.done.catch(() => {});
      }
    }
    await this.disconnectAll(Math.max(100, deadline - Date.now()));
    if (this.usesPool) {
      this.usesPool = false;
      await releaseCompressPool();
    }
    if (undelivered > 0) this.log.warn({ undelivered }, 'kafka sink closed with records undelivered');
    this.report = { undelivered };
    return this.report;
  }

  private newProducer(): Producer {
    const producer = this.kafka.producer({
      // the worker already chose the partition with Kafka's murmur2 rule
      createPartitioner: () => ({ message }) => message.partition as number,
      allowAutoTopicCreation: false,
      idempotent: this.opts.idempotent,
      maxInFlightRequests: this.opts.idempotent ? 1 : undefined,
      retry: {
        retries: this.opts.retries,
        initialRetryTime: RETRY_BACKOFF_MS,
        maxRetryTime: RETRY_MAX_BACKOFF_MS,
      },
    });
    // A silent cluster (no reset, no answer) shows only as timeouts: report not ready at
    // the first one, not when the append finally gives up after every retry.
    producer.on(producer.events.REQUEST_TIMEOUT, ({ payload }) => {
      this.timeoutsSeen++;
      if (this.state === 'ready') this.setNotReady(new Error(`${payload.apiName} request to ${payload.broker} timed out`));
    });
    return producer;
  }

  /** One connect: producer (and InitProducerId when idempotent), then topic metadata. */
  private async connectOnce(): Promise<void> {
    const producer = (this.producer ??= this.newProducer());
    const admin = (this.admin ??= this.kafka.admin());
    await producer.connect();
    await admin.connect();
    const partitions = await fetchPartitionCount(admin, this.opts.topic);
    const expected = this.opts.expectPartitions;
    if (expected !== undefined && partitions !== expected) {
      throw new Error(
        `topic ${this.opts.topic} has ${partitions} partitions but records are partitioned for ${expected} ` +
          `(--partitions): refusing to produce`,
      );
    }
    if (this.state === 'closed') {
      // close() ran while we were connecting: do not leave these sockets open
      await settlesWithin(Promise.all([producer.disconnect(), admin.disconnect()]), 1000);
      return;
    }
    if (this.partitions !== undefined && this.partitions !== partitions) {
      this.log.warn({ was: this.partitions, now: partitions }, 'kafka topic partition count changed');
    }
    this.partitions = partitions;
    if (this.state !== 'ready') this.log.info({ topic: this.opts.topic, partitions }, 'kafka sink ready');
    this.state = 'ready';
    this.lastActivity = Date.now();
  }

  private setNotReady(e: unknown): void {
    const text = errorText(e);
    if (this.state === 'ready' || this.lastError !== text) this.log.warn({ err: text }, 'kafka sink not ready');
    if (this.state === 'ready') this.state = 'connecting';
    this.lastError = text;
  }

  /** Starts the background reconnect loop unless it runs already. */
  private recover(): void {
    if (this.recovering || this.state === 'closed') return;
    this.recovering = (async () => {
      let delay = RETRY_BACKOFF_MS;
      while (this.state !== 'closed') {
        try {
          await sleep(delay, undefined, { signal: this.stopRecovery.signal, ref: false });
        } catch {
          return; // closed
        }
        try {
          await this.connectOnce();
          return;
        } catch (e) {
          this.setNotReady(e);
          delay = Math.min(delay * 2, RECONNECT_MAX_BACKOFF_MS);
        }
      }
    })().finally(() => {
      this.recovering = null;
    });
  }

  /** While ready and idle, a metadata probe notices a lost cluster before an append does. */
  private scheduleProbe(): void {
    const every = this.opts.probeIntervalMs;
    if (every <= 0 || this.state === 'closed') return;
    this.probeTimer = setTimeout(() => {
      void this.probe().finally(() => this.scheduleProbe());
    }, every);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    if (this.state !== 'ready' || this.inflight || Date.now() - this.lastActivity < this.opts.probeIntervalMs) return;
    try {
      if (this.admin) await fetchPartitionCount(this.admin, this.opts.topic);
      this.lastActivity = Date.now();
    } catch (e) {
      // Widened: TypeScript keeps the narrowing to 'ready' across the await, close() may have run.
      if ((this.state as KafkaSinkState) === 'closed') return;
      this.setNotReady(e);
      this.recover();
    }
  }

  /**
   * Replaces the producer with a fresh one (connected by the recovery loop). Needed after
   * a failed idempotent send: kafkajs rolls its sequence numbers back, and a batch that did
   * reach the broker would make the next one out of order. A new producer gets a new
   * producer id. Also after our own deadline, so a still-retrying send is abandoned.
   */
  private async resetProducer(): Promise<void> {
    const old = this.producer;
    this.producer = null;
    if (old) await settlesWithin(old.disconnect(), 1000);
  }

  private async disconnectAll(ms: number): Promise<void> {
    const p = this.producer;
    const a = this.admin;
    this.producer = null;
    this.admin = null;
    await settlesWithin(Promise.all([p?.disconnect(), a?.disconnect()]), ms);
  }
}
