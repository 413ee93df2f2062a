/**
 * Topic metadata look-ups through a short-lived kafkajs admin client, for the gateway's
 * startup check: the topic's partition count must equal the gateway's `--partitions`, or
 * a client would land on different partition numbers in the local log and in Kafka.
 */
import kafkajs, { type Admin } from 'kafkajs';
import { kafkajsLogCreator, silentLogger, type SinkLogger } from './kafkajs-log.ts';
import type { KafkaSecurity } from './kafka-security.ts';

const { Kafka, logLevel } = kafkajs;

export interface TopicMetadataOptions {
  clientId?: string;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Connection/metadata retries (default 2). */
  retries?: number;
  logger?: SinkLogger;
  /** TLS and SASL options for kafkajs (src/kafka/kafka-security.ts). */
  security?: KafkaSecurity;
}

/**
 * The number of partitions of `topic`. Rejects when no broker answers or the topic does
 * not exist (the admin never asks brokers to auto-create; librdkafka's mock cluster
 * creates it anyway, with 4 partitions).
 */
export async function readTopicPartitions(
  brokers: string[],
  topic: string,
  opts: TopicMetadataOptions = {},
): Promise<number> {
  const kafka = new Kafka({
    clientId: opts.clientId ?? 'metricstream-metadata',
    brokers,
    ...opts.security,
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    requestTimeout: opts.requestTimeoutMs ?? 10_000,
    retry: { retries: opts.retries ?? 2, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: logLevel.WARN,
    logCreator: kafkajsLogCreator(opts.logger ?? silentLogger),
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await fetchPartitionCount(admin, topic);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Partition count of `topic` through an already-connected admin. */
export async function fetchPartitionCount(admin: Admin, topic: string): Promise<number> {
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  const t = md.topics.find((x) => x.name === topic);
  if (!t || t.partitions.length === 0) throw new Error(`topic ${topic} has no partitions`);
  return t.partitions.length;
}
