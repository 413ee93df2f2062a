/**
 * The consumer library's public types, shared by the log and Kafka implementations.
 */
import type { KafkaSecurity } from '../kafka/kafka-security.ts';
import type { ConsumedRecord } from './plain-reader.ts';

export type { ConsumedRecord };

/** One partition's records, consecutive and in offset order. */
export interface ConsumedBatch {
  partition: number;
  records: ConsumedRecord[];
}

/**
 * Processes one batch. The consumer commits the batch (offset after its last record) only
 * after the returned promise resolves: at-least-once. A rejection stops the consumer
 * without committing that batch; `run()` then rejects with the handler's error.
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
   * Joins the group and calls `handler` for each batch of the partitions assigned to this
   * member, committing after each batch. Resolves when stop() is called, or per `opts`
   * (exitAtEnd, maxRecords), after leaving the group cleanly. Rejects if the handler
   * rejects (after leaving the group) or the source cannot be read.
   */
  run(handler: BatchHandler, opts?: RunOptions): Promise<void>;
  /** Stops consuming: waits for the batch in flight to be handled and committed, leaves the group. */
  stop(): Promise<void>;
  /** The group's lag per partition (works without run()). */
  lag(): Promise<PartitionLag[]>;
}
