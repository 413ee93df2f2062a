/**
 * Kafka-flap soak: a gateway in `--mode kafka --fallback file` under steady load while the
 * path to the brokers (the fault-injecting proxy in front of librdkafka's mock cluster)
 * breaks and comes back, again and again: refused connections, a black hole, brokers that
 * read and never answer, each for a random time (seeded PRNG). The suite's fallback test
 * (test/kafka/fallback.test.ts) cuts once; this looks for what only repetition finds: a
 * spill that is never replayed, a replay that reorders a client's records, a record
 * answered 200 or 202 that never reaches the topic, a gateway that stops answering.
 *
 *   npm run soak:kafka-flap                            # 20 flaps, seed 1
 *   SOAK_FLAPS=60 SOAK_SEED=2 npm run soak:kafka-flap
 */
import { expect, it, onTestFinished } from 'vitest';
import { tempDir } from '../support/gateway-process.ts';
import { pick, prng } from '../support/prng.ts';
import { logged, readyz, spillGone, startLoad, storedValue, useKafkaCluster, valuesOf, waitFor, type Outcome } from '../kafka/gateway-support.ts';
import { freshTopic, startReader } from '../kafka/helpers.ts';

const FLAPS = Number(process.env.SOAK_FLAPS ?? 20);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const CLIENTS = 6;

const cluster = useKafkaCluster();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`${FLAPS} broker outages under load (seed ${SEED}): every 200 and 202 reaches the topic, in each client's order`, { timeout: FLAPS * 30_000 + 180_000 }, async () => {
  const random = prng(SEED);
  const topic = freshTopic('soak-flap');
  const dataDir = await tempDir('metricstream-kafka-flap-');
  const g = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir]);
  await waitFor('ready', async () => (await readyz(g.port)) === 200);
  // Read while the load runs (it sends more than the mock cluster keeps, see startReader),
  // from the mock's own addresses: the outages are the gateway's, not the reader's.
  const reader = await startReader(cluster.broker.mockBootstrap, topic);
  onTestFinished(() => reader.stop());
  const load = startLoad(g.port, 'flap', CLIENTS, 1);
  const flaps: string[] = [];
  for (let i = 0; i < FLAPS; i++) {
    await sleep(500 + Math.floor(random() * 2500));
    const mode = pick(random, ['refuse', 'blackhole', 'deaf'] as const);
    const down = 200 + Math.floor(random() * 3000);
    await cluster.broker.proxy!.cut(mode);
    await sleep(down);
    await cluster.broker.proxy!.restore();
    flaps.push(`${mode} ${down} ms`);
  }
  await waitFor('the spill replayed and freed', spillGone(dataDir), 120_000);
  const settled = load.outcomes.length;
  await waitFor('200s after the last outage', () => load.outcomes.slice(settled).filter((o) => o.status === 200).length >= 30, 60_000);
  const outcomes = await load.stop();

  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[String(o.status)] = (counts[String(o.status)] ?? 0) + 1;
  const kept = (o: Outcome) => o.status === 200 || o.status === 202;
  // Every request got an HTTP answer: the gateway kept serving through every outage.
  expect(outcomes.filter((o) => typeof o.status !== 'number').map((o) => `${o.client}#${o.seq}: ${o.status}`)).toEqual([]);

  const want = outcomes.filter(kept).length;
  // Three minutes at most; what was read by then is checked all the same, so a shortfall
  // names the records it lacks. Then 2 s more, so duplicates would show.
  const read = await reader.drain(want, 2000, 180_000);
  const byPosition = new Map(read.map((m) => [`${m.partition}/${m.offset}`, m]));
  const problems: string[] = [];
  for (const o of outcomes.filter((x) => x.status === 200)) {
    const m = byPosition.get(`${o.body.partition}/${o.body.offset}`);
    if (m === undefined || !m.value.equals(storedValue(o.client, o.seq))) problems.push(`${o.client}#${o.seq} answered 200 at ${o.body.partition}/${o.body.offset}: not there`);
  }
  for (let c = 0; c < CLIENTS; c++) {
    const client = `flap-${c}`;
    // The client's request numbers in offset order, each checked byte for byte (valuesOf).
    const firstAt = new Map<number, number>();
    valuesOf(read, client).forEach((seq, i) => firstAt.has(seq) || firstAt.set(seq, i));
    // Every kept record is there; first occurrences keep the client's order.
    for (const o of outcomes) if (o.client === client && kept(o) && !firstAt.has(o.seq)) problems.push(`${client}#${o.seq} answered ${o.status}: not in the topic`);
    const firsts = [...firstAt.keys()];
    for (let i = 1; i < firsts.length; i++) {
      if (firsts[i] < firsts[i - 1]) problems.push(`${client}: #${firsts[i]} stored before #${firsts[i - 1]}`);
    }
  }
  console.log(
    `${FLAPS} outages, seed ${SEED}: answers ${JSON.stringify(counts)}, ${read.length} messages in the topic, ` +
      `replays logged ${g.logs.filter((l) => typeof l.msg === 'string' && /^kafka back: replaying/.test(l.msg)).length}; outages: ${flaps.join(', ')}`,
  );
  expect(logged(g.logs, /^kafka down: spilling/)).toBe(true);
  expect(problems.slice(0, 10), `${problems.length} problems`).toEqual([]);
  expect(await g.stop()).toBe(0);
});
