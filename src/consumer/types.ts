/**
 * The consumer library's public types, shared by the log and Kafka implementations.
 */
import type { KafkaSecurity } from '../kafka/kafka-security.ts';
import type { ConsumedRecord } from './plain-reader.ts';
import type { DeliveryLogger } from './sinks/delivery.ts';
import type { SinkMetrics } from './sinks/sink-metrics.ts';

export type { ConsumedRecord };

/** One partition's records, consecutive and in offset order. */
export interface ConsumedBatch {
  partition: number;
  records: ConsumedRecord[];
  /**
   * Aborted when the handler should give the batch up: the consumer is stopping (after a
   * grace period, see stopGraceMs) or this member lost the partition.
   */
  signal?: AbortSignal;
  /**
   * Whether this member still owns the partition now: its generation assigns it the
   * partition and its membership is valid (log mode: the lease, renewed first when it is
   * near its end; Kafka: a heartbeat the broker answered). A handler that sends the batch
   * somewhere checks it before each send: after a stop past the session timeout it
   * resolves false, before anything is sent.
   */
  owned?: () => Promise<boolean>;
  /** Kafka: keeps the group membership alive during a long handler (retries). */
  heartbeat?: () => Promise<void>;
}

/**
 * Processes one batch. The consumer commits the batch (offset after its last record) only
 * after the returned promise resolves: at-least-once. A rejection with BatchAbandoned (or
 * any rejection after the batch's signal aborted) gives the batch up: nothing is
 * committed, the partition's owner reads it again, run() goes on. Any other rejection
 * stops the consumer without committing that batch; `run()` then rejects with it.
 */
export type BatchHandler = (batch: ConsumedBatch) => Promise<void>;

/** What happened in the group, for logs (the CLI prints these on stderr). */
export type ConsumerEvent =
  | { type: 'assigned'; generation: number; memberId: string; partitions: number[] }
  | { type: 'retention-skip'; partition: number; committedOffset: number; earliestOffset: number }
  | { type: 'commit-refused'; partition: number; offset: number; reason: string }
  | { type: 'warning'; message: string };

interface CommonOptions {
  /** Consumer group name: members of one group share the partitions, groups are independent. */
  group: string;
  /**
   * Where to start a partition the group has never committed: its earliest retained
   * record (true), or its end, new records only (false, the default, like Kafka's
   * auto.offset.reset=latest).
   */
  fromBeginning?: boolean;
  /** A member silent for this long is considered gone and its partitions move (default 6000 ms). */
  sessionTimeoutMs?: number;
  /** Records per batch at most (default 500). */
  maxBatchRecords?: number;
  /** Told about assignments, retention skips, refused commits and warnings. */
  onEvent?: (event: ConsumerEvent) => void;
  /**
   * Deliver to a store instead of a handler: run() without a handler sends every batch to
   * it and commits after the store's 2xx (see SinkOptions).
   */
  sink?: SinkOptions;
  /**
   * On stop(), how long a batch in flight may still finish (and be committed) before its
   * signal aborts and it is given up (default 5000 ms).
   */
  stopGraceMs?: number;
  /**
   * msgpack values are handed over undecoded: `value` undefined, the bytes in `encoded`;
   * the handler decodes them (decode.ts materialize()). Set for a sink, which decodes them
   * straight into samples without an object per entry.
   */
  deferMsgpack?: boolean;
}

/** A store to deliver to: Prometheus remote_write 1.0 or InfluxDB line protocol. */
export interface SinkOptions {
  type: 'remote-write' | 'influx';
  /** remote_write: the receive URL (VictoriaMetrics .../api/v1/write); Influx: .../write?db=D or .../api/v2/write?org=O&bucket=B. */
  url: string;
  /** Extra headers on every request (Authorization, X-Scope-OrgID...). */
  headers?: Record<string, string>;
  /** Samples per request at most (default 10,000). */
  maxSamplesPerRequest?: number;
  /** Uncompressed bytes per request to aim below (default 4 MiB). */
  maxBytesPerRequest?: number;
  /** Requests in flight at once (default 2); a series always takes the same lane. */
  concurrency?: number;
  /** One request's deadline (default 30000 ms). */
  requestTimeoutMs?: number;
  /** First retry delay (default 100 ms), doubling with jitter up to maxBackoffMs (default 10000 ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Dead letter as NDJSON files here (default in log mode: <dataDir>/dead-letter/<group>/). */
  deadLetterDir?: string;
  /** Kafka mode: dead letter topic (default <topic>.dead-letter) unless deadLetterDir is set. */
  deadLetterTopic?: string;
  /** Metrics to count into (the CLI serves them on --admin-port); one is made when absent. */
  metrics?: SinkMetrics;
  /** pino (or the same shape) for sink lifecycle and error logs. */
  logger?: DeliveryLogger;
}

/** A consumer of the local partition log, coordinated through its data dir. */
export interface LogConsumerOptions extends CommonOptions {
  mode: 'log';
  dataDir: string;
  /** This member's id in the group (default: host-pid-random). Must be unique in the group. */
  memberId?: string;
  /** Longest wait at the end of a partition before looking again without a file event (default 250 ms). */
  pollMs?: number;
}

/** A consumer of a Kafka topic through a kafkajs consumer group. */
export interface KafkaConsumerOptions extends CommonOptions {
  mode: 'kafka';
  /** Bootstrap servers, "host:port,host:port" or a list. */
  brokers: string | string[];
  topic: string;
  clientId?: string;
  /** TLS and SASL options for kafkajs (src/kafka/kafka-security.ts). */
  security?: KafkaSecurity;
}

export type ConsumerOptions = LogConsumerOptions | KafkaConsumerOptions;

/** How long run() goes on. */
export interface RunOptions {
  /**
   * Resolve once every partition assigned to this member has been consumed (and
   * committed) up to its end as seen then, instead of following the tail.
   */
  exitAtEnd?: boolean;
  /** Resolve after handling (and committing) this many records in total. */
  maxRecords?: number;
}

/** Lag of a group on one partition, as seen at one moment (stale at once). */
export interface PartitionLag {
  partition: number;
  /** Offset the next record written to the partition will get. */
  endOffset: number;
  /** The group's committed offset (next offset to read), or null if it never committed. */
  committedOffset: number | null;
  /**
   * endOffset − committedOffset; without a commit, endOffset − the earliest retained
   * offset (what a reader starting from the beginning has in front of it).
   */
  lag: number;
}

/** A group member. One run() per consumer. */
export interface Consumer {
  /**
   * Joins the group and calls `handler` (without one: delivers to the `sink` option) for
   * each batch of the partitions assigned to this member, committing after each batch. Resolves when stop() is called, or per `opts`
   * (exitAtEnd, maxRecords), after leaving the group cleanly. Rejects if the handler
   * rejects (after leaving the group) or the source cannot be read.
   */
  run(handler?: BatchHandler, opts?: RunOptions): Promise<void>;
  /** Stops consuming: waits for the batch in flight to be handled and committed, leaves the group. */
  stop(): Promise<void>;
  /** The group's lag per partition (works without run()). */
  lag(): Promise<PartitionLag[]>;
}
