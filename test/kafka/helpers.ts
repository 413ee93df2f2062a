/**
 * Test helpers for the Kafka sink: records as the worker would build them, and two
 * independent readers of a topic (a kafkajs consumer, and kcat/librdkafka).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { pack } from 'msgpackr';
import { partitionFor } from '../../src/records/partitioner.ts';
import { ContentType, type SinkRecord } from '../../src/sink/sink.ts';
import { silentLogger, type SinkLogger } from '../../src/kafka/kafkajs-log.ts';
import { registerKafkaCodecs } from '../../src/kafka/compress-pool.ts';

const { Kafka, logLevel } = kafkajs;
const run = promisify(execFile);

/** A fresh topic name: the mock auto-creates it with 4 partitions on first use. */
export function freshTopic(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * `n` records from `n` clients: partition by Kafka's murmur2 rule over `partitions`,
 * alternating msgpack (binary, with 0x00 and 0xff bytes) and JSON values.
 */
export function makeRecords(n: number, partitions = 4, tag = ''): SinkRecord[] {
  const out: SinkRecord[] = [];
  for (let i = 0; i < n; i++) {
    const key = Buffer.from(`client-${tag}${i}`);
    const metrics = { metrics: [{ name: `m${i}`, value: i * 1.5, tags: { tag } }] };
    const msgpack = i % 2 === 0;
    const value = msgpack
      ? Buffer.concat([pack(metrics), Buffer.from([0x00, 0xff, i & 0xff])])
      : Buffer.from(JSON.stringify(metrics));
    out.push({
      partition: partitionFor(key, partitions),
      key,
      value,
      timestamp: 1_700_000_000_000 + i,
      contentType: msgpack ? ContentType.msgpack : ContentType.json,
    });
  }
  return out;
}

/** A message as a reader saw it. */
export interface ReadMessage {
  partition: number;
  offset: number;
  key: Buffer;
  value: Buffer;
  contentType: string | undefined;
  timestamp: string;
}

/** A kafkajs consumer (fresh group) reading a topic from its beginning until stop(). */
export interface TopicReader {
  /** Every message read so far, in the order they arrived. */
  readonly messages: ReadMessage[];
  /** Resolves once `count` messages were read, or after `timeoutMs` (then with fewer). */
  until(count: number, timeoutMs?: number): Promise<void>;
  /** Disconnects; again resolves with the first call's promise. */
  stop(): Promise<void>;
  /**
   * Waits for `count` messages (at most `timeoutMs`, if given), then `settleMs` more so
   * extra (duplicate) messages would show, stops, and returns every message read.
   */
  drain(count: number, settleMs: number, timeoutMs?: number): Promise<ReadMessage[]>;
}

/**
 * Starts reading `topic` from its beginning. A run that sends more than librdkafka's mock
 * cluster keeps must read while it sends: the mock holds at most 5 MiB (or 100,000
 * message sets) per partition and drops the oldest past that (rdkafka_mock.c), so a
 * reader started afterwards would miss them and report a loss that is the mock's.
 */
export async function startReader(bootstrap: string, topic: string): Promise<TopicReader> {
  registerKafkaCodecs(); // lz4/snappy/zstd decompression for the consumer
  const kafka = new Kafka({
    clientId: 'test-reader',
    brokers: bootstrap.split(','),
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const messages: ReadMessage[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let stopped: Promise<void> | undefined;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const ct = message.headers?.['content-type'];
        messages.push({
          partition,
          offset: Number(message.offset),
          key: message.key ?? Buffer.alloc(0),
          value: message.value ?? Buffer.alloc(0),
          contentType: ct === undefined ? undefined : String(ct),
          timestamp: message.timestamp,
        });
        for (let i = waiters.length - 1; i >= 0; i--) if (messages.length >= waiters[i].count) waiters.splice(i, 1)[0].resolve();
      },
    });
  } catch (e) {
    await consumer.disconnect();
    throw e;
  }
  const reader: TopicReader = {
    messages,
    until(count, timeoutMs) {
      if (messages.length >= count) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = timeoutMs === undefined ? undefined : setTimeout(resolve, timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    stop: () => (stopped ??= consumer.disconnect()),
    async drain(count, settleMs, timeoutMs) {
      try {
        await reader.until(count, timeoutMs);
        await new Promise((r) => setTimeout(r, settleMs));
      } finally {
        await reader.stop();
      }
      return messages;
    },
  };
  return reader;
}

/**
 * Reads `topic` from the beginning with a kafkajs consumer (fresh group) until `count`
 * messages arrived, then waits `settleMs` more so extra (duplicate) messages would show.
 * Only for what fits the mock's retention (see startReader).
 */
export async function consumeAll(bootstrap: string, topic: string, count: number, settleMs = 300): Promise<ReadMessage[]> {
  return (await startReader(bootstrap, topic)).drain(count, settleMs);
}

/** A message as kcat (librdkafka) decoded it, from `kcat -C -J -e`. */
export interface KcatMessage {
  partition: number;
  offset: number;
  key: string;
  payload: string;
  headers: string[];
  ts: number;
}

/** Reads the whole topic with kcat (librdkafka's decoder and decompressors). */
export async function kcatAll(bootstrap: string, topic: string): Promise<KcatMessage[]> {
  const { stdout } = await run('kcat', ['-C', '-b', bootstrap, '-t', topic, '-e', '-q', '-J'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as KcatMessage);
}

/** A logger that keeps warn lines, for asserting on them. */
export function collectingLogger(): SinkLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { ...silentLogger, warnings, warn: (_o, m) => warnings.push(m ?? '') };
}
