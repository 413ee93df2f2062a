/**
 * Kafka consumer-group soak: a group of consumer CLI processes (`--mode kafka`, kafkajs
 * underneath) reading a topic of librdkafka's mock cluster that keeps growing, while its
 * members are killed (SIGKILL, or SIGTERM) and replaced at random moments (seeded PRNG):
 * inside a rebalance, between a batch and its commit. The suite's group tests kill once;
 * this looks for a record no member delivers, a group that stops making progress after a
 * rebalance (src/consumer/kafka-member-state.ts), a member that does not stop cleanly, and
 * commits that end short of the topic.
 *
 * The mock holds a rebalance for the session timeout minus 1 s and a new group's first
 * join for 3 s, so kills come every 2-8 s here.
 *
 *   npm run soak:kafka-group                            # 15 kills, seed 1
 *   SOAK_KILLS=40 SOAK_SEED=2 npm run soak:kafka-group
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConsumerProcess, runConsumer, waitFor } from '../consumer/helpers.ts';
import { startLocalBroker, type LocalBroker } from '../support/local-broker.ts';
import { prng } from '../support/prng.ts';
import { killMembers, type Kills } from './member-kills.ts';

const KILLS = Number(process.env.SOAK_KILLS ?? 15);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const PARTITIONS = 4;

let broker: LocalBroker | undefined;
const members: ConsumerProcess[] = [];
beforeAll(async () => {
  broker = await startLocalBroker({ brokers: 3 });
});
afterAll(async () => {
  for (const m of members) m.kill('SIGKILL');
  await broker?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`${KILLS} member kills while the topic grows (seed ${SEED}): every record delivered, the group commits to the end`, { timeout: KILLS * 30_000 + 240_000 }, async () => {
  const random = prng(SEED);
  const topic = `soak-${randomUUID().slice(0, 8)}`;
  const group = `soak-${randomUUID().slice(0, 8)}`;
  const kafka = new kafkajs.Kafka({ clientId: 'soak-producer', brokers: broker!.bootstrap.split(','), logLevel: kafkajs.logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  let produced = 0;
  const produce = async (n: number) => {
    await producer.send({
      topic,
      messages: Array.from({ length: n }, (_, i) => ({
        key: `client-${produced + i}`,
        value: pack({ metrics: [{ name: 'cpu', value: produced + i }], seq: produced + i }),
        headers: { 'content-type': 'application/msgpack' },
        partition: (produced + i) % PARTITIONS,
      })),
    });
    produced += n;
  };
  await produce(100);
  const args = ['--mode', 'kafka', '--brokers', broker!.bootstrap, '--topic', topic, '--group', group, '--from-beginning', '--session-timeout', '4s'];
  const join = () => {
    const m = new ConsumerProcess(args);
    members.push(m);
    return m;
  };
  const live = new Set<ConsumerProcess>([join(), join(), join()]);

  let writing = true;
  const rounds = prng(SEED + 1);
  const writer = (async () => {
    while (writing) {
      await produce(1 + Math.floor(rounds() * 100));
      await sleep(10 + Math.floor(rounds() * 40));
    }
  })();
  let kills: Kills;
  try {
    kills = await killMembers(random, live, join, KILLS, [2000, 8000], 3000);
  } finally {
    writing = false;
    await writer;
    await producer.disconnect();
  }
  while (live.size < 2) live.add(join());

  const seen = () => new Set(members.flatMap((m) => m.lines.map((l) => l.value.seq)));
  await waitFor(`all ${produced} records delivered`, () => seen().size >= produced, 180_000, () => {
    const have = seen();
    const gaps: number[] = [];
    for (let s = 0; s < produced && gaps.length < 10; s++) if (!have.has(s)) gaps.push(s);
    return `${have.size} of ${produced}; first missing seq ${gaps.join(' ')}\n${[...live].map((m) => m.stderr.slice(-2000)).join('\n---\n')}`;
  });
  // Leave cleanly (commits done); then nothing is left for the group.
  for (const m of live) m.kill('SIGTERM');
  const lastExits = await Promise.all([...live].map((m) => m.exited));
  const lag = await runConsumer(['--mode', 'kafka', '--brokers', broker!.bootstrap, '--topic', topic, '--group', group, '--show-lag']);
  const rows = lag.lines as unknown as { partition: number; endOffset: number; lag: number }[];
  const sigtermExits = await Promise.all(kills.sigtermExits);
  const delivered = members.reduce((n, m) => n + m.lines.length, 0);
  console.log(
    `${KILLS} kills (${kills.sequence}), seed ${SEED}: ${produced} records in ${PARTITIONS} partitions, ${delivered} deliveries ` +
      `(${delivered - produced} repeated after a kill or a rebalance), ${members.length} members in all, ${kills.sigtermExits.length} stopped by SIGTERM after joining`,
  );
  expect([...sigtermExits, ...lastExits].filter((code) => code !== 0), 'members that did not exit 0 on SIGTERM').toEqual([]);
  expect(lag.code).toBe(0);
  expect(rows.map((r) => r.lag)).toEqual([0, 0, 0, 0]);
  expect(rows.reduce((n, r) => n + r.endOffset, 0)).toBe(produced);
  for (const m of members) for (const l of m.lines) expect(l.value.seq % PARTITIONS).toBe(l.partition);
});
