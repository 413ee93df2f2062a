/**
 * Where records go that a store refused for good (a 4xx other than 408/429) or that are
 * not the record format at all: a dead letter the group writes durably before it commits
 * past them, so they are counted and kept, never silently skipped, and never block the
 * group.
 *
 * - Local log mode: NDJSON files `<dir>/partition-<p>.ndjson` (default dir
 *   `<data-dir>/dead-letter/<group>/`), appended and fdatasync'd.
 * - Kafka mode: a topic (default `<topic>.dead-letter`), written with acks=all, key = the
 *   record's key, value = the same JSON line.
 *
 * Each entry: {"group","sink","partition","offset","key","timestamp","value" (or
 * "valueBase64"),"reason","status"?,"at"}: enough to replay it by hand once the cause is
 * fixed.
 */
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import kafkajs from 'kafkajs';
import type { KafkaConfig, Producer } from 'kafkajs';
import { jsonReplacer } from '../plain-reader.ts';
import type { ConsumedRecord } from '../plain-reader.ts';

const { Kafka, logLevel } = kafkajs;

/** One refused record and why. */
export interface DeadLetterEntry {
  record: ConsumedRecord;
  reason: string;
  /** The store's HTTP status, when it refused. */
  status?: number;
}

export interface DeadLetter {
  /** Where entries go, for logs. */
  readonly where: string;
  /** Writes entries durably; rejects on failure (the caller retries, nothing is committed meanwhile). */
  write(group: string, sink: string, entries: readonly DeadLetterEntry[]): Promise<void>;
  close(): Promise<void>;
}

/** The JSON line of one entry. */
export function deadLetterLine(group: string, sink: string, e: DeadLetterEntry): string {
  const r = e.record;
  const out: Record<string, unknown> = { group, sink, partition: r.partition, offset: r.offset, key: r.key, timestamp: r.timestamp };
  if (r.valueError === undefined) out.value = r.value;
  else out.valueBase64 = Buffer.from(r.rawValue ?? new Uint8Array(0)).toString('base64');
  out.reason = e.reason;
  if (e.status !== undefined) out.status = e.status;
  out.at = new Date().toISOString();
  // NaN/Infinity would become null in JSON: keep them as the record format's JSON spellings.
  return JSON.stringify(out, (k, v) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
    return jsonReplacer(k, v);
  });
}

/** NDJSON files, one per partition, in `dir`. */
export class FileDeadLetter implements DeadLetter {
  readonly where: string;
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    this.where = dir;
  }

  async write(group: string, sink: string, entries: readonly DeadLetterEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await mkdir(this.dir, { recursive: true });
    const byPartition = new Map<number, string>();
    for (const e of entries) {
      const p = e.record.partition;
      byPartition.set(p, (byPartition.get(p) ?? '') + deadLetterLine(group, sink, e) + '\n');
    }
    for (const [p, text] of byPartition) {
      const fh = await open(path.join(this.dir, `partition-${p}.ndjson`), 'a');
      try {
        await fh.writeFile(text);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
  }

  async close(): Promise<void> {}
}

/** A Kafka topic, through one kafkajs producer connected on first use. */
export class KafkaDeadLetter implements DeadLetter {
  readonly where: string;
  #producer: Producer;
  #connected: Promise<void> | null = null;

  readonly topic: string;
  /** The producer's kafkajs config (brokers, TLS, SASL: the group member's). */
  readonly config: KafkaConfig;
  constructor(config: KafkaConfig, topic: string) {
    this.topic = topic;
    this.where = `topic ${topic}`;
    this.config = config;
    const kafka = new Kafka({ ...config, logLevel: logLevel.NOTHING });
    this.#producer = kafka.producer({ allowAutoTopicCreation: true });
  }

  async write(group: string, sink: string, entries: readonly DeadLetterEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.#connected ??= this.#producer.connect().catch((err: unknown) => {
      this.#connected = null;
      throw err;
    });
    await this.#connected;
    await this.#producer.send({
      topic: this.topic,
      acks: -1,
      messages: entries.map((e) => ({ key: e.record.key, value: deadLetterLine(group, sink, e), headers: { 'content-type': 'application/json' } })),
    });
  }

  async close(): Promise<void> {
    if (this.#connected) await this.#producer.disconnect().catch(() => {});
  }
}
