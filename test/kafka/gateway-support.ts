/**
 * Helpers for tests that drive the real gateway (a child process) into the mock cluster:
 * clients that send numbered requests and keep every outcome, polling with deadlines, and
 * the check that an answered record is in the topic where the answer said.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import kafkajs, { type PartitionMetadata } from 'kafkajs';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { startLocalBroker, type LocalBroker } from '../support/local-broker.ts';
import { DEAD_LETTER_DIR_NAME, SPILL_DIR_NAME } from '../../src/kafka/fallback-sink.ts';
import { LogReader } from '../../src/log/log-reader.ts';
import { partitionFor } from '../../src/records/partitioner.ts';
import { postMetrics, startGateway, type GatewayProcess } from '../support/gateway-process.ts';
import type { KcatMessage, ReadMessage } from './helpers.ts';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** What one request got: an HTTP status, or 'error' (connection failed), or 'timeout'. */
export interface Outcome {
  client: string;
  seq: number;
  status: number | 'error' | 'timeout';
  body: Record<string, unknown>;
}

/** The body client `client` sends as its request number `seq`. */
export function bodyFor(client: string, seq: number): { metrics: { name: string; value: number; tags: Record<string, string> }[] } {
  return { metrics: [{ name: `m-${client}-${seq}`, value: seq, tags: { client } }] };
}

/** The record value the gateway stores for bodyFor(client, seq): plain msgpack of the body. */
export function storedValue(client: string, seq: number): Buffer {
  return packr.pack(bodyFor(client, seq));
}

/** Decodes a stored msgpack value. */
export function decodeValue(value: Uint8Array): ReturnType<typeof bodyFor> {
  return unpackr.unpack(value) as ReturnType<typeof bodyFor>;
}

/** Sends request `seq` of `client`; never throws, never waits longer than `timeoutMs`. */
export async function send(port: number, client: string, seq: number, timeoutMs = 60_000): Promise<Outcome> {
  try {
    const r = await Promise.race([
      postMetrics(port, client, bodyFor(client, seq)),
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref()),
    ]);
    if (r === 'timeout') return { client, seq, status: 'timeout', body: {} };
    return { client, seq, status: r.status, body: r.body };
  } catch {
    return { client, seq, status: 'error', body: {} };
  }
}

/** Concurrent clients, each sending numbered requests one after another until stop() is called. */
export interface Load {
  outcomes: Outcome[];
  /** Stops sending; resolves when every request in flight has its outcome. */
  stop(): Promise<Outcome[]>;
}

/** Starts `clients` clients named `<prefix>-<n>`; `pauseMs` between a client's requests. */
export function startLoad(port: number, prefix: string, clients: number, pauseMs = 0): Load {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const runs = Array.from({ length: clients }, async (_, c) => {
    const client = `${prefix}-${c}`;
    for (let seq = 0; !stopped; seq++) {
      outcomes.push(await send(port, client, seq));
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    outcomes,
    async stop() {
      stopped = true;
      await Promise.all(runs);
      return outcomes;
    },
  };
}

export { waitFor } from '../support/wait-for.ts';
export { readyz, readyzDiskStalled } from '../support/readiness.ts';

/** Whether a gateway log line (pino JSON) with a message matching `re` was printed. */
export function logged(logs: Record<string, unknown>[], re: RegExp): boolean {
  return logs.some((l) => typeof l.msg === 'string' && re.test(l.msg));
}

const kafkajsDefault = kafkajs.Partitioners.DefaultPartitioner();
const FOUR_PARTITIONS = [0, 1, 2, 3].map((partitionId) => ({ partitionId, leader: 0 }));

/** The partition kafkajs's own DefaultPartitioner would pick for `key` among 4. */
export function kafkajsPartition(topic: string, key: string): number {
  return kafkajsDefault({
    topic,
    partitionMetadata: FOUR_PARTITIONS as unknown as PartitionMetadata[],
    message: { key, value: null },
  });
}

/**
 * Asserts that every outcome answered 200 is in the topic exactly once, as read by the
 * kafkajs consumer (`read`) and by kcat (`viaKcat`): at the partition and offset answered,
 * with its key, value (msgpack of the body), content-type header. Returns the messages
 * that no 200 accounts for (records answered otherwise that still reached Kafka).
 */
export function expectAnsweredInTopic(topic: string, oks: Outcome[], read: ReadMessage[], viaKcat: KcatMessage[]): ReadMessage[] {
  const byPos = new Map<string, ReadMessage[]>();
  for (const m of read) {
    const k = `${m.partition}/${m.offset}`;
    byPos.set(k, [...(byPos.get(k) ?? []), m]);
  }
  const kcatByPos = new Map<string, KcatMessage[]>();
  for (const m of viaKcat) {
    const k = `${m.partition}/${m.offset}`;
    kcatByPos.set(k, [...(kcatByPos.get(k) ?? []), m]);
  }
  const accounted = new Set<string>();
  for (const o of oks) {
    expect(o.status).toBe(200);
    const pos = `${o.body.partition}/${o.body.offset}`;
    const p = partitionFor(Buffer.from(o.client), 4);
    expect(o.body.partition, `${o.client}#${o.seq} partition`).toBe(p);
    expect(kafkajsPartition(topic, o.client)).toBe(p);
    const ms = byPos.get(pos) ?? [];
    expect(ms, `${o.client}#${o.seq} at ${pos} (kafkajs consumer)`).toHaveLength(1);
    const m = ms[0];
    expect(m.key.toString()).toBe(o.client);
    expect(m.value.equals(storedValue(o.client, o.seq))).toBe(true);
    expect(decodeValue(m.value)).toEqual(bodyFor(o.client, o.seq));
    expect(m.contentType).toBe('application/msgpack');
    const ks = kcatByPos.get(pos) ?? [];
    expect(ks, `${o.client}#${o.seq} at ${pos} (kcat)`).toHaveLength(1);
    expect(ks[0].key).toBe(o.client);
    expect(ks[0].headers).toEqual(['content-type', 'application/msgpack']);
    // kcat prints binary msgpack bytes as U+FFFD; the metric name is plain text in it
    expect(ks[0].payload).toContain(`m-${o.client}-${o.seq}`);
    expect(accounted.has(pos), `two 200 answers name ${pos}`).toBe(false);
    accounted.add(pos);
  }
  return read.filter((m) => !accounted.has(`${m.partition}/${m.offset}`));
}

/** [from, to) as an array. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/**
 * The request numbers of `client`'s messages in offset order, checking that each is at
 * the client's partition with the exact bytes the gateway stores.
 */
export function valuesOf(read: ReadMessage[], client: string): number[] {
  const mine = read.filter((m) => m.key.toString() === client).sort((a, b) => a.offset - b.offset);
  for (const m of mine) {
    expect(m.partition).toBe(partitionFor(Buffer.from(client), 4));
    expect(m.contentType).toBe('application/msgpack');
    const seq = decodeValue(m.value).metrics[0].value;
    expect(m.value.equals(storedValue(client, seq))).toBe(true);
  }
  return mine.map((m) => decodeValue(m.value).metrics[0].value);
}

/**
 * A body of about 4 KB: larger than a gateway with `--kafka-request-bytes 2kb` sends (413),
 * and spilled by one with 8kb, then refused on replay by one restarted with 2kb (as a
 * broker with a smaller message.max.bytes would), so it is dead-lettered.
 */
export const OVERSIZED_BODY = { metrics: [{ name: 'big', value: 1, tags: { pad: 'x'.repeat(4000) } }] };

/** What `<dataDir>/kafka-dead-letter` holds in `client`'s partition (of 4): keys and decoded values. */
export async function deadLettered(dataDir: string, client: string): Promise<{ key: string; value: ReturnType<typeof decodeValue> }[]> {
  const reader = await LogReader.open(path.join(dataDir, DEAD_LETTER_DIR_NAME));
  try {
    const res = await reader.read(partitionFor(Buffer.from(client), 4), 0, 1000);
    return res.records.map((r) => ({ key: Buffer.from(r.key).toString(), value: decodeValue(r.value) }));
  } finally {
    await reader.close();
  }
}

/** A check for waitFor: the spill directory of `dataDir` is gone (replayed and freed). */
export function spillGone(dataDir: string): () => boolean {
  return () => !existsSync(path.join(dataDir, SPILL_DIR_NAME));
}

/** Starts the gateway in Kafka mode: 2 workers, 4 partitions, plus `extra` flags. */
export function startKafkaGateway(bootstrap: string, topic: string, extra: string[] = []): Promise<GatewayProcess> {
  return startGateway(['--mode', 'kafka', '--brokers', bootstrap, '--topic', topic, '--workers', '2', '--partitions', '4', ...extra]);
}

/**
 * Registers what every test file driving gateways into the mock cluster needs: one 3-broker
 * cluster behind the fault-injecting proxy for the file (failing, never skipping, when
 * kcat is missing), the proxy restored after each test, every gateway started killed at
 * the end. Call at the top level of the test file.
 */
export function useKafkaCluster(): { readonly broker: LocalBroker; gateway(topic: string, extra?: string[]): Promise<GatewayProcess> } {
  let broker: LocalBroker | undefined;
  const running: GatewayProcess[] = [];
  beforeAll(async () => {
    broker = await startLocalBroker({ brokers: 3 });
  });
  afterEach(async () => {
    if (broker?.proxy?.cutMode) await broker.proxy.restore();
  });
  afterAll(async () => {
    await Promise.all(running.filter((g) => g.proc.exitCode === null && g.proc.signalCode === null).map((g) => g.stop('SIGKILL')));
    await broker?.stop();
  });
  return {
    get broker(): LocalBroker {
      if (broker === undefined) throw new Error('the mock cluster is not started yet (use it inside tests)');
      return broker;
    },
    async gateway(topic, extra = []) {
      const g = await startKafkaGateway(this.broker.bootstrap, topic, extra);
      running.push(g);
      return g;
    },
  };
}
