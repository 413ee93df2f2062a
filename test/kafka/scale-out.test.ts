/**
 * Scale-out: three gateway processes on three ports write into one Kafka cluster (the
 * mock, 3 brokers) and one consumer group of two members reads the topic. Every request
 * answered 200 is in the topic exactly once, at the partition and offset it was answered
 * with, and each client's records are in send order within its partition even though
 * the client moves from gateway to gateway with every request (it waits for each answer,
 * and acks all means the record is in Kafka before the answer: the next record, through
 * any gateway, lands after it).
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionFor } from '../../src/records/partitioner.ts';
import { decodeValue, send, storedValue, useKafkaCluster, type Outcome } from './gateway-support.ts';
import type { ReadMessage } from './helpers.ts';

const { Kafka, logLevel } = kafkajs;
const cluster = useKafkaCluster();

const GATEWAYS = 3;
const CLIENTS = 9;
const PER_CLIENT = 20;

/**
 * Reads `topic` with a consumer group of `members` kafkajs consumers until `count`
 * messages arrived, then 500 ms more so duplicates would show. Session timeout 4 s: the
 * mock holds a rebalance for the session timeout minus 1 s (see kafka-groups.test.ts).
 */
async function consumeWithGroup(bootstrap: string, topic: string, members: number, count: number, timeoutMs: number): Promise<{ got: ReadMessage[]; byMember: number[] }> {
  const kafka = new Kafka({ clientId: 'scale-out-reader', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const group = `scale-out-${randomUUID().slice(0, 8)}`;
  const got: ReadMessage[] = [];
  const byMember = Array.from({ length: members }, () => 0);
  const consumers = Array.from({ length: members }, () => kafka.consumer({ groupId: group, sessionTimeout: 4000, rebalanceTimeout: 4000, heartbeatInterval: 500, maxWaitTimeInMs: 100 }));
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  try {
    await Promise.all(
      consumers.map(async (consumer, i) => {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            const ct = message.headers?.['content-type'];
            got.push({ partition, offset: Number(message.offset), key: message.key ?? Buffer.alloc(0), value: message.value ?? Buffer.alloc(0), contentType: ct === undefined ? undefined : String(ct), timestamp: message.timestamp });
            byMember[i]++;
            if (got.length >= count) resolveDone();
          },
        });
      }),
    );
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    if ((await Promise.race([done, timer])) === 'timeout') throw new Error(`consumer group read ${got.length} of ${count} messages in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await Promise.all(consumers.map((c) => c.disconnect()));
  }
  return { got, byMember };
}

describe('scale-out: three gateways, one Kafka cluster, one consumer group', () => {
  it('every 200 is consumed exactly once; each client keeps its send order in its partition', { timeout: 90_000 }, async () => {
    const topic = `scale-out-${randomUUID().slice(0, 8)}`;
    const gateways = await Promise.all(Array.from({ length: GATEWAYS }, () => cluster.gateway(topic, ['--workers', '1'])));
    const ports = gateways.map((g) => g.port);
    expect(new Set(ports).size).toBe(GATEWAYS);

    // Each client sends its requests one after another, request n to gateway (c + n) % 3.
    const outcomes: Outcome[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const client = `scale-${c}`;
        for (let seq = 0; seq < PER_CLIENT; seq++) outcomes.push(await send(ports[(c + seq) % GATEWAYS], client, seq, 30_000));
      }),
    );
    const bad = outcomes.filter((o) => o.status !== 200);
    expect(bad, JSON.stringify(bad.slice(0, 3))).toEqual([]);
    expect(outcomes).toHaveLength(CLIENTS * PER_CLIENT);

    const { got, byMember } = await consumeWithGroup(cluster.broker.bootstrap, topic, 2, outcomes.length, 45_000);
    // Exactly once: as many messages as 200s, no position twice, each 200 at its position.
    expect(got).toHaveLength(outcomes.length);
    const byPos = new Map(got.map((m) => [`${m.partition}/${m.offset}`, m]));
    expect(byPos.size).toBe(got.length);
    for (const o of outcomes) {
      const m = byPos.get(`${o.body.partition}/${o.body.offset}`);
      expect(m, `${o.client}#${o.seq} at ${o.body.partition}/${o.body.offset}`).toBeDefined();
      expect(m!.key.toString()).toBe(o.client);
      expect(m!.value.equals(storedValue(o.client, o.seq))).toBe(true);
    }
    // Per-client order: in offset order, the client's request numbers are 0..PER_CLIENT-1.
    for (let c = 0; c < CLIENTS; c++) {
      const client = `scale-${c}`;
      const mine = got.filter((m) => m.key.toString() === client).sort((a, b) => a.offset - b.offset);
      expect(new Set(mine.map((m) => m.partition))).toEqual(new Set([partitionFor(Buffer.from(client), 4)]));
      expect(mine.map((m) => decodeValue(m.value).metrics[0].value)).toEqual(Array.from({ length: PER_CLIENT }, (_, i) => i));
    }
    // Both members read: the group split the partitions.
    expect(byMember.reduce((a, b) => a + b, 0)).toBe(got.length);
  });
});
