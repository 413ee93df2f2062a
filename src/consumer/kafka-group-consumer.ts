/**
 * A consumer-group member on a Kafka topic, through a kafkajs consumer group (JoinGroup,
 * SyncGroup, Heartbeat, OffsetCommit on the broker). Same Consumer API as the log mode.
 *
 * At-least-once: auto-commit and auto-resolve are off; after the handler resolves, the
 * batch's last offset is resolved and committed explicitly (next offset = last + 1). A
 * commit from a member whose generation is gone is refused by the broker (kafkajs then
 * rejoins); its batch is read again by the partition's next owner.
 */
import kafkajs from 'kafkajs';
import type { Admin, Consumer as KafkaJsConsumer, EachBatchPayload, KafkaConfig } from 'kafkajs';
import { kafkajsLogCreator, silentLogger } from '../kafka/kafkajs-log.ts';
import type { SinkLogger } from '../kafka/kafkajs-log.ts';
import type { KafkaSecurity } from '../kafka/kafka-security.ts';
import { CONTENT_TYPE_NAMES, ContentType } from '../sink/sink.ts';
import { isAbandoned } from './batch-abandoned.ts';
import { toConsumedRecord } from './decode.ts';
import { KafkaMemberState } from './kafka-member-state.ts';
import type { BatchHandler, Consumer, ConsumerEvent, KafkaConsumerOptions, PartitionLag, RunOptions } from './types.ts';

const { Kafka, logLevel } = kafkajs;

export const DEFAULT_KAFKA_SESSION_TIMEOUT_MS = 6000;
/** How often exitAtEnd compares committed offsets with the partitions' ends. */
const END_CHECK_MS = 300;
/** Rejoins in a row after the broker refused a group request, before giving up. */
const MAX_REJOINS = 5;
const DEFAULT_STOP_GRACE_MS = 5000;
/** Marks a consumer instance given up after an abandoned batch: rejoin, not a failure. */
const REJOIN = Symbol('rejoin');

function brokerList(brokers: string | string[]): string[] {
  return (Array.isArray(brokers) ? brokers : brokers.split(',')).map((b) => b.trim()).filter((b) => b !== '');
}

/** The content type a record's `content-type` header names (what the Kafka sink writes). */
function contentTypeOf(header: Buffer | string | (Buffer | string)[] | undefined, value: Buffer): number {
  const h = Array.isArray(header) ? header[0] : header;
  const name = h === undefined ? '' : String(h);
  if (name === 'application/msgpack') return ContentType.msgpack;
  if (name === 'application/json') return ContentType.json;
  for (const ct in CONTENT_TYPE_NAMES) if (CONTENT_TYPE_NAMES[ct] === name) return Number(ct); // raw records
  if (name !== '') return 0; // unknown: printed raw with the reason
  // No header (another producer): JSON objects start with "{", our msgpack maps do not.
  return value[0] === 0x7b ? ContentType.json : ContentType.msgpack;
}

/**
 * The kafkajs config of every client the consumer makes (the group member, the lag admin,
 * the dead-letter producer): the brokers and the TLS/SASL options the CLIs parse with
 * src/kafka/kafka-security.ts, as the gateway's producer gets them.
 */
export function consumerKafkaConfig(clientId: string, brokers: string | string[], security: KafkaSecurity | undefined): KafkaConfig {
  return { clientId, brokers: brokerList(brokers), ...security };
}

function kafkaClient(opts: KafkaConsumerOptions, logger: SinkLogger): InstanceType<typeof Kafka> {
  return new Kafka({
    ...consumerKafkaConfig(opts.clientId ?? 'metricstream-consumer', opts.brokers, opts.security),
    // kafkajs logs to stdout by default; stdout carries the records.
    logLevel: logLevel.WARN,
    logCreator: kafkajsLogCreator(logger),
  });
}

/**
 * Lag of `group` on `topic` per partition (high watermark − committed offset), as of now.
 * Works whether or not any member runs.
 */
export async function kafkaGroupLag(opts: { brokers: string | string[]; topic: string; group: string; security?: KafkaSecurity }): Promise<PartitionLag[]> {
  const admin = new Kafka({ ...consumerKafkaConfig('metricstream-lag', opts.brokers, opts.security), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await lagWith(admin, opts.topic, opts.group);
  } finally {
    await admin.disconnect();
  }
}

async function lagWith(admin: Admin, topic: string, group: string): Promise<PartitionLag[]> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const byPartition = new Map<number, number>();
  for (const p of committed?.partitions ?? []) byPartition.set(p.partition, Number(p.offset));
  return ends
    .map((e) => {
      const c = byPartition.get(e.partition);
      const committedOffset = c === undefined || c < 0 ? null : c;
      const end = Number(e.high);
      const from = committedOffset ?? Number(e.low);
      return { partition: e.partition, endOffset: end, committedOffset, lag: Math.max(0, end - from) };
    })
    .sort((a, b) => a.partition - b.partition);
}

/** See the module comment. Create through createConsumer({mode: 'kafka', ...}). */
export class KafkaGroupConsumer implements Consumer {
  readonly #opts: KafkaConsumerOptions;
  #running: Promise<void> | null = null;
  #finish: (() => void) | null = null;
  #stopRequested = false;
  #inflight: AbortController | null = null;
  #stopTimer: NodeJS.Timeout | null = null;

  constructor(opts: KafkaConsumerOptions) {
    this.#opts = opts;
  }

  run(handler?: BatchHandler, opts: RunOptions = {}): Promise<void> {
    if (handler === undefined) return Promise.reject(new Error('run() needs a batch handler (or create the consumer with a sink option)'));
    if (this.#running !== null) return Promise.reject(new Error('run() was already called on this consumer'));
    this.#running = this.#run(handler, opts);
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopRequested = true;
    this.#finish?.();
    // The batch in flight may finish (and commit) within the grace period; then it is given up.
    this.#stopTimer ??= setTimeout(() => this.#inflight?.abort(new Error('the consumer is stopping')), this.#opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    try {
      await this.#running?.catch(() => {});
    } finally {
      clearTimeout(this.#stopTimer);
    }
  }


  lag(): Promise<PartitionLag[]> {
    return kafkaGroupLag({ brokers: this.#opts.brokers, topic: this.#opts.topic, group: this.#opts.group, security: this.#opts.security });
  }

  #emit(e: ConsumerEvent): void {
    this.#opts.onEvent?.(e);
  }

  async #run(handler: BatchHandler, runOpts: RunOptions): Promise<void> {
    const o = this.#opts;
    const logger: SinkLogger = {
      ...silentLogger,
      warn: (_obj, msg) => this.#emit({ type: 'warning', message: `kafkajs: ${msg ?? ''}` }),
    };
    const kafka = kafkaClient(o, logger);
    let remaining = runOpts.maxRecords ?? Infinity;
    let failure: unknown = null;
    let finished = false;
    const done = new Promise<void>((resolve) => {
      this.#finish = () => {
        finished = true;
        resolve();
      };
    });
    if (this.#stopRequested) this.#finish?.();
    let assigned: number[] | null = null;
    let joins = 0;
    /** What the current kafkajs consumer may still do (one per consumer, made in the loop below). */
    let member!: KafkaMemberState;

    const eachBatch = async ({ batch, resolveOffset, commitOffsetsIfNecessary, isRunning, isStale, heartbeat }: EachBatchPayload) => {
      if (!member.mayHandleBatch() || finished || !isRunning() || isStale() || batch.messages.length === 0) return;
      const messages = batch.messages.slice(0, Number.isFinite(remaining) ? remaining : undefined);
      if (messages.length === 0) return;
      const records = messages.map((m) => {
        const value = m.value ?? Buffer.alloc(0);
        return toConsumedRecord(
          batch.partition,
          Number(m.offset),
          m.key ?? Buffer.alloc(0),
          Number(m.timestamp),
          contentTypeOf(m.headers?.['content-type'], value),
          value,
          this.#opts.deferMsgpack,
        );
      });
      const abort = new AbortController();
      this.#inflight = abort;
      if (this.#stopRequested) abort.abort(new Error('the consumer is stopping'));
      // Before each send: a heartbeat the broker answered (kafkajs sends one only when its
      // interval has passed, so this costs nothing most of the time). After a SIGSTOP past
      // the session the broker refuses it: the batch is given up before anything is sent.
      const owned = async (): Promise<boolean> => {
        // (Not `finished`: on stop() the batch in flight may still finish within the grace period.)
        if (abort.signal.aborted || member.state === 'replacing' || isStale()) return false;
        try {
          await heartbeat();
        } catch (err) {
          // A rebalance under way: the member is still in the group and may keep this
          // partition, so the send goes ahead; its commit is then refused, kafkajs rejoins
          // as the same member, and the batch is read again from the committed offset
          // (at-least-once). Giving it up here made this member leave and join with a new
          // consumer: a rebalance of its own, which made the other member give up its batch
          // in flight and do the same, and with batches always in flight the group never
          // settled (seen in CI). A member retrying against a failing store still gives its
          // partitions up at once: the heartbeat between its retries throws (delivery.ts).
          if (!isRebalanceInProgress(err)) return false;
        }
        return !abort.signal.aborted && !isStale();
      };
      try {
        await handler({ partition: batch.partition, records, signal: abort.signal, owned, heartbeat: () => heartbeat() });
      } catch (err) {
        if (isAbandoned(err, abort.signal)) {
          // Nothing resolved or committed. Later batches of this consumer must not commit
          // past this one. Given up for a rebalance (a retry's heartbeat was answered
          // REBALANCE_IN_PROGRESS: a member joined or left), the member stays in the group
          // and takes no batch until kafkajs has rejoined as the same member; leaving and
          // joining with a new consumer would start a rebalance of its own, which makes any
          // other retrying member give its batch up and do the same, for as long as the
          // store is down (seen in sink-kafka-rebalance.test.ts). Otherwise (membership
          // lost, the consumer stopping) a new consumer rejoins and starts from the
          // committed offsets (or the partition's next owner does).
          if (!finished) {
            const rebalancing = isRebalanceInProgress(err);
            this.#emit({
              type: 'warning',
              message:
                `partition ${batch.partition}: batch at offsets ${messages[0].offset}..${messages[messages.length - 1].offset} given up without committing ` +
                (rebalancing ? '(the group is rebalancing); rejoining as the same member' : `(${(err as Error).message}); rejoining`),
            });
            if (rebalancing) member.gaveUpForRebalance();
            else member.replace();
          }
          return;
        }
        // Not thrown to kafkajs, which would retry the batch forever: stop instead, as
        // the log mode does. Nothing is resolved or committed for this batch.
        failure ??= err;
        this.#finish?.();
        return;
      } finally {
        this.#inflight = null;
      }
      if (isStale()) {
        // Lost while the handler ran: commit nothing (the broker would refuse it), rejoin.
        member.replace();
        return;
      }
      const last = messages[messages.length - 1].offset;
      resolveOffset(last);
      const next = String(Number(last) + 1);
      // Refused by the broker (ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS) when this member's
      // generation is gone: kafkajs rejoins, the batch is read again by its next owner.
      await commitOffsetsIfNecessary({ topics: [{ topic: o.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
      remaining -= messages.length;
      if (remaining <= 0) this.#finish?.();
    };

    let admin: Admin | null = null;
    let endTimer: NodeJS.Timeout | null = null;
    try {
      if (runOpts.exitAtEnd) {
        admin = kafka.admin();
        await admin.connect();
        const a = admin;
        const check = async (): Promise<void> => {
          endTimer = null;
          if (finished) return;
          try {
            if (assigned !== null && (await this.#atEnd(a, assigned))) {
              this.#finish?.();
              return;
            }
          } catch {
            // a rebalance or a broker hiccup: look again
          }
          endTimer = setTimeout(() => void check(), END_CHECK_MS);
        };
        endTimer = setTimeout(() => void check(), END_CHECK_MS);
      }
      // kafkajs gives up for good when the broker answers a group request with an error it
      // does not retry (the librdkafka mock answers a follower's SyncGroup that arrives
      // after the leader's with INVALID_REQUEST, for one). A member is not meant to leave
      // its group over that: rejoin with a new kafkajs consumer, a few times in a row.
      let refusals = 0;
      while (!finished) {
        const consumer = this.#newConsumer(kafka);
        let crashed: (err: unknown) => void = () => {};
        const crash = new Promise<unknown>((resolve) => (crashed = resolve));
        const state = (member = new KafkaMemberState(this.#sessionTimeoutMs, () => crashed(REJOIN)));
        consumer.on(consumer.events.GROUP_JOIN, (e) => {
          refusals = 0;
          state.joined();
          assigned = [...(e.payload.memberAssignment[o.topic] ?? [])].sort((x, y) => x - y);
          // kafkajs has no generation id in the event; the join count stands in for it.
          this.#emit({ type: 'assigned', generation: ++joins, memberId: e.payload.memberId, partitions: assigned });
        });
        consumer.on(consumer.events.CRASH, (e) => {
          if (!e.payload.restart) crashed(e.payload.error); // else kafkajs restarts by itself
        });
        let err: unknown = null;
        try {
          await consumer.connect();
          await consumer.subscribe({ topic: o.topic, fromBeginning: o.fromBeginning ?? false });
          await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch });
          err = await Promise.race([done.then(() => null), crash]);
        } catch (e) {
          err = e;
        } finally {
          // Waits for the batch in flight (handled and committed), then leaves the group.
          await consumer.disconnect().catch(() => {});
        }
        if (err === null || finished) break;
        if (err === REJOIN) continue;
        if (!isBrokerRefusal(err) || ++refusals > MAX_REJOINS) {
          failure ??= err;
          break;
        }
        this.#emit({ type: 'warning', message: `the broker refused a group request (${(err as Error).message}); rejoining` });
        await new Promise((r) => setTimeout(r, 300 * refusals));
      }
    } finally {
      if (endTimer) clearTimeout(endTimer);
      await admin?.disconnect().catch(() => {});
    }
    if (failure !== null) throw failure;
  }

  /** A member silent this long is gone (the broker's session timeout, also kafkajs' rebalance timeout). */
  get #sessionTimeoutMs(): number {
    return this.#opts.sessionTimeoutMs ?? DEFAULT_KAFKA_SESSION_TIMEOUT_MS;
  }

  #newConsumer(kafka: InstanceType<typeof Kafka>): KafkaJsConsumer {
    const sessionTimeout = this.#sessionTimeoutMs;
    return kafka.consumer({
      groupId: this.#opts.group,
      sessionTimeout,
      // The broker waits up to this long for members to rejoin during a rebalance.
      rebalanceTimeout: sessionTimeout,
      heartbeatInterval: Math.max(100, Math.floor(sessionTimeout / 3)),
      maxWaitTimeInMs: 250,
    });
  }

  /** Whether the group committed everything of `partitions` that the topic holds now. */
  async #atEnd(admin: Admin, partitions: number[]): Promise<boolean> {
    const lag = await lagWith(admin, this.#opts.topic, this.#opts.group);
    return partitions.every((p) => {
      const l = lag.find((x) => x.partition === p);
      if (l === undefined) return false;
      // Never committed and not from the beginning: kafkajs starts at the end.
      if (l.committedOffset === null) return l.lag === 0 || !this.#opts.fromBeginning;
      return l.lag === 0;
    });
  }
}

/**
 * Whether kafkajs gave up because the broker refused a request (a KafkaJSProtocolError),
 * either as thrown or wrapped: when its retrier stops at an error it does not retry, the
 * consumer crashes with a KafkaJSNonRetriableError whose `cause` is the broker's error.
 * kafkajs' own crash handler looks through `cause` the same way. Reading the name only
 * took a wrapped refusal for a failure, and the member left its group (seen in CI: the
 * librdkafka mock refused a SyncGroup during a rebalance, the second time wrapped).
 */
export function isBrokerRefusal(err: unknown): boolean {
  return brokerRefusal(err) !== undefined;
}

/** Whether `err` is the broker's REBALANCE_IN_PROGRESS (thrown or wrapped): the group is rebalancing. */
export function isRebalanceInProgress(err: unknown): boolean {
  return brokerRefusal(err)?.type === 'REBALANCE_IN_PROGRESS';
}

/** The KafkaJSProtocolError in `err`'s cause chain (at most 8 deep), if any. */
function brokerRefusal(err: unknown): (Error & { type?: string }) | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e.name === 'KafkaJSProtocolError') return e;
  }
  return undefined;
}
