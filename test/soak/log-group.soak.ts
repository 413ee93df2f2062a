/**
 * Consumer-group soak on the local log: a group of consumer CLI processes reads a log that
 * keeps growing while its members are killed (SIGKILL, or SIGTERM) and replaced, again and
 * again, at random moments (seeded PRNG): inside a rebalance, between a batch and its
 * commit, while a lease is being renewed. The suite's group test kills one member once;
 * this looks for a record no member ever delivers, a group that stops making progress, a
 * member that does not stop cleanly on SIGTERM, and commits that end short of the log.
 *
 *   npm run soak:log-group                              # 30 kills, seed 1
 *   SOAK_KILLS=100 SOAK_SEED=2 npm run soak:log-group
 */
import { afterAll, expect, it } from 'vitest';
import { groupLag } from '../../src/index.ts';
import type { LogSink } from '../../src/log/log-sink.ts';
import { appendRound, ConsumerProcess, ids, openSink, tempDir, waitFor } from '../consumer/helpers.ts';
import { prng } from '../support/prng.ts';
import { killMembers, type Kills } from './member-kills.ts';

const KILLS = Number(process.env.SOAK_KILLS ?? 30);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const PARTITIONS = 4;
const GROUP = 'soak';

const members: ConsumerProcess[] = [];
let sink: LogSink | undefined;
afterAll(async () => {
  for (const m of members) m.kill('SIGKILL');
  await sink?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`${KILLS} member kills while the log grows (seed ${SEED}): every record delivered, the group commits to the end`, { timeout: KILLS * 20_000 + 240_000 }, async () => {
  const random = prng(SEED);
  const dir = await tempDir();
  sink = await openSink(dir, PARTITIONS, { segmentBytes: 64 * 1024 });
  const s = sink;
  const join = () => {
    const m = new ConsumerProcess(['--data-dir', dir, '--group', GROUP, '--from-beginning', '--session-timeout', '1s']);
    members.push(m);
    return m;
  };
  const live = new Set<ConsumerProcess>([join(), join(), join()]);

  let perPartition = 0;
  let writing = true;
  // Its own generator: the kills' sequence stays the seed's whatever the timing.
  const rounds = prng(SEED + 1);
  const writer = (async () => {
    while (writing) {
      await appendRound(s, PARTITIONS, 1 + Math.floor(rounds() * 50), perPartition * PARTITIONS);
      perPartition = s.log!.nextOffset(0);
      await sleep(5 + Math.floor(rounds() * 20));
    }
  })();

  let kills: Kills;
  try {
    kills = await killMembers(random, live, join, KILLS, [300, 2300], 1500);
  } finally {
    writing = false;
    await writer;
  }
  while (live.size < 2) live.add(join());

  const total = perPartition * PARTITIONS;
  const seen = () => new Set(members.flatMap((m) => ids(m.lines)));
  await waitFor(`all ${total} records delivered`, () => seen().size >= total, 120_000, () => {
    const have = seen();
    const gaps: string[] = [];
    for (let p = 0; p < PARTITIONS; p++) for (let o = 0; o < perPartition && gaps.length < 10; o++) if (!have.has(`${p}:${o}`)) gaps.push(`${p}:${o}`);
    return `${have.size} of ${total}; first missing ${gaps.join(' ')}`;
  });
  await waitFor('the group committed to the end of every partition', async () => (await groupLag({ mode: 'log', dataDir: dir, group: GROUP })).every((l) => l.lag === 0), 60_000);
  const sigtermExits = await Promise.all(kills.sigtermExits);
  const delivered = members.reduce((n, m) => n + m.lines.length, 0);
  console.log(
    `${KILLS} kills (${kills.sequence}), seed ${SEED}: ${total} records in ${PARTITIONS} partitions, ${delivered} deliveries ` +
      `(${delivered - total} repeated after a kill), ${members.length} members in all, ${kills.sigtermExits.length} stopped by SIGTERM after joining`,
  );
  expect(sigtermExits.filter((code) => code !== 0), 'members that did not exit 0 on SIGTERM').toEqual([]);
  const have = seen();
  const stray = [...have].filter((id) => Number(id.split(':')[1]) >= perPartition);
  expect(stray, 'records delivered that were never written').toEqual([]);
});
