/**
 * Kafka mode against librdkafka's mock cluster (kcat): two consumer CLI processes in one
 * kafkajs consumer group split the topic's partitions, and every produced record is
 * consumed once; --show-lag then reports nothing left.
 *
 * The mock holds a new group's first JoinGroup for 3 s and a rebalance for the session
 * timeout minus 1 s; a session timeout under 3 s never lets a member in. Hence 4 s here.
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalBroker } from '../support/local-broker.ts';
import type { LocalBroker } from '../support/local-broker.ts';
import { ConsumerProcess, ids, runConsumer, waitFor } from './helpers.ts';

const { Kafka, logLevel } = kafkajs;

let broker: LocalBroker;
beforeAll(async () => {
  broker = await startLocalBroker({ brokers: 3 });
});
afterAll(async () => {
  await broker?.stop();
});

describe('Kafka consumer groups (CLI processes, mock cluster)', () => {
  it('two members split the 4 partitions; every produced record is consumed once; lag is 0 after', async () => {
    const topic = `metrics-${randomUUID().slice(0, 8)}`;
    const group = `consumer-group-${randomUUID().slice(0, 8)}`;
    const kafka = new Kafka({ clientId: 'test-producer', brokers: broker.bootstrap.split(','), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const procs: ConsumerProcess[] = [];
    try {
      // Create the topic (the mock makes 4 partitions) and put records in before anyone joins.
      const produce = async (from: number, n: number) => {
        await producer.send({
          topic,
          messages: Array.from({ length: n }, (_, i) => ({
            key: `client-${from + i}`,
            value: pack({ metrics: [{ name: 'cpu', value: from + i }], seq: from + i }),
            headers: { 'content-type': 'application/msgpack' },
            partition: (from + i) % 4,
          })),
        });
      };
      await produce(0, 200);

      const args = ['--mode', 'kafka', '--brokers', broker.bootstrap, '--topic', topic, '--group', group, '--from-beginning', '--session-timeout', '4s'];
      const a = new ConsumerProcess(args);
      const b = new ConsumerProcess(args);
      procs.push(a, b);
      let split: number[][] = [];
      await waitFor(
        'both members to get partitions',
        () => {
          split = [a.assigned() ?? [], b.assigned() ?? []];
          const all = split.flat().sort();
          return split.every((s) => s.length > 0) && all.join(',') === '0,1,2,3';
        },
        40_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nA: ${a.stderr}\nB: ${b.stderr}`);
      });
      await produce(200, 200);
      await waitFor('400 distinct records', () => new Set([...ids(a.lines), ...ids(b.lines)]).size >= 400, 30_000);
      const seqs = [...a.lines, ...b.lines].map((l) => l.value.seq).sort((x, y) => x - y);
      // Every record arrived; a record read by the member that had it before the split
      // and again after it would show up twice (it may: the first member could have
      // committed late), so count distinct records and bound the rest by position.
      expect([...new Set(seqs)]).toEqual(Array.from({ length: 400 }, (_, i) => i));
      for (const l of [...a.lines, ...b.lines]) expect(l.value.seq % 4).toBe(l.partition);
      // After the split, each member read only its own partitions.
      const after = (lines: typeof a.lines) => lines.filter((l) => l.value.seq >= 200).map((l) => l.partition);
      for (const p of after(a.lines)) expect(split[0]).toContain(p);
      for (const p of after(b.lines)) expect(split[1]).toContain(p);
      expect([...after(a.lines), ...after(b.lines)].length).toBe(200);

      // Leave cleanly (commits done), then the lag is 0 everywhere.
      a.kill('SIGTERM');
      b.kill('SIGTERM');
      expect(await a.exited).toBe(0);
      expect(await b.exited).toBe(0);
      const lag = await runConsumer(['--mode', 'kafka', '--brokers', broker.bootstrap, '--topic', topic, '--group', group, '--show-lag']);
      expect(lag.code).toBe(0);
      const rows = lag.lines as unknown as { partition: number; endOffset: number; lag: number }[];
      expect(rows.map((r) => r.lag)).toEqual([0, 0, 0, 0]);
      expect(rows.reduce((n, r) => n + r.endOffset, 0)).toBe(400);
    } finally {
      for (const p of procs) p.kill('SIGKILL');
      await producer.disconnect();
    }
  });
});
