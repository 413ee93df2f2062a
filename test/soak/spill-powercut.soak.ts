/**
 * Spill power-cut soak: a gateway in `--mode kafka --fallback file` whose data dir (and so
 * its spill, `<data-dir>/kafka-spill/`) is on the FUSE power-cut layer. Each cycle cuts
 * the path to the brokers (so records are spilled and answered 202), sometimes fails or
 * stalls the spill's disk for a while (its segment, index, commit-mark and replay-cursor
 * writes fail with EIO or ENOSPC, or its segment, commit-mark or replay-cursor fsyncs
 * stall, past the gateway's --disk-stall-timeout of 200 ms or not), sometimes restores the
 * brokers (so the spill is being replayed), and then cuts the power at a random moment
 * (seeded PRNG); the next cycle starts on what survived, which replays the spill left
 * behind. The
 * suite's fallback test kills the gateway with SIGKILL, which keeps the page cache; a 202
 * says "durable here", and only a power cut tests that.
 *
 *   npm run soak:spill-powercut                         # 12 cycles, seed 1
 *   SOAK_CYCLES=40 SOAK_SEED=2 npm run soak:spill-powercut
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { SPILL_DIR_NAME } from '../../src/kafka/fallback-sink.ts';
import { tempDir } from '../support/gateway-process.ts';
import { mountPowerCut, usePowerCutFixture } from '../support/powercut-fs.ts';
import { pick, prng } from '../support/prng.ts';
import { REPLAY_CURSOR_FILE } from '../../src/kafka/replay-cursor.ts';
import { readyz, startLoad, useKafkaCluster, valuesOf, waitFor, type Outcome } from '../kafka/gateway-support.ts';
import { freshTopic, startReader } from '../kafka/helpers.ts';

const CYCLES = Number(process.env.SOAK_CYCLES ?? 12);
const SEED = Number(process.env.SOAK_SEED ?? 1);

const cluster = useKafkaCluster();
const fx = usePowerCutFixture();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface DiskFault {
  op: 'write' | 'stall';
  suffix: string;
  errno: string;
  ms: number;
}

/** A failure or stall of the spill's disk, 20–520 ms long. */
function faultOn(random: () => number): DiskFault {
  const [op, suffix] = pick(random, [
    ['write', '.log'],
    ['write', '.index'],
    ['write', 'commit-marks'],
    ['write', `${REPLAY_CURSOR_FILE}.tmp`],
    ['stall', '.log'],
    ['stall', 'commit-marks'],
    ['stall', `${REPLAY_CURSOR_FILE}.tmp`],
  ] as const);
  return { op, suffix, errno: pick(random, ['EIO', 'ENOSPC']), ms: 20 + Math.floor(random() * 500) };
}

it(`${CYCLES} power cuts while records are spilled or replayed (seed ${SEED}): every 202 and 200 reaches the topic`, { timeout: CYCLES * 60_000 + 240_000 }, async () => {
  const random = prng(SEED);
  const topic = freshTopic('soak-spill');
  fx.dir = await tempDir('metricstream-spill-powercut-');
  const all: Outcome[] = [];
  const cycles: string[] = [];
  // Read while the cycles run (long runs send more than the mock cluster keeps, see
  // startReader), from the mock's own addresses: the outages are the gateway's.
  const reader = await startReader(cluster.broker.mockBootstrap, topic);
  onTestFinished(() => reader.stop());
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    fx.layer = await mountPowerCut(fx.dir, cycle);
    const layer = fx.layer;
    const g = await cluster.gateway(topic, ['--fallback', 'file', '--disk-stall-timeout', '200ms', '--data-dir', path.join(layer.mount, 'data')]);
    fx.gateway = g;
    const load = startLoad(g.port, `spill${cycle}`, 6, 1);
    await sleep(200 + Math.floor(random() * 800));
    await cluster.broker.proxy!.cut('refuse');
    const spilled = 1 + Math.floor(random() * 800);
    await waitFor('records spilled', () => load.outcomes.filter((o) => o.status === 202).length >= spilled, 60_000);
    const replaying = random() < 0.5;
    // A disk fault while spilling or (the broker back first) while replaying; healed before
    // the cut, which a stalled fsync would otherwise hold.
    const fault = random() < 0.6 ? faultOn(random) : undefined;
    if (replaying) await cluster.broker.proxy!.restore();
    if (fault !== undefined) {
      if (fault.op === 'stall') await layer.stall(fault.suffix);
      else await layer.fail('write', fault.suffix, fault.errno);
      await sleep(fault.ms);
      await layer.heal();
    }
    // The power goes while the spill is being replayed, or with the broker away.
    if (replaying) await sleep(Math.floor(random() * 1500));
    g.proc.kill('SIGKILL');
    await layer.cut();
    const outcomes = await load.stop();
    await g.exited;
    await layer.unmount();
    fx.layer = undefined;
    fx.gateway = undefined;
    if (!replaying) await cluster.broker.proxy!.restore();
    all.push(...outcomes);
    const faultText = fault === undefined ? '' : `, ${fault.op} ${fault.suffix}${fault.op === 'stall' ? '' : ` ${fault.errno}`} for ${fault.ms} ms`;
    cycles.push(`cycle ${cycle}: ${outcomes.filter((o) => o.status === 202).length} spilled, ${outcomes.filter((o) => o.status === 503).length} refused${faultText}, cut ${replaying ? 'while replaying' : 'with the broker away'}`);
  }
  // A last start off the layer, broker up: it replays what every cut left in the spill.
  const backing = path.join(fx.dir, 'backing', 'data');
  const g = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', backing]);
  fx.gateway = g;
  await waitFor('ready', async () => (await readyz(g.port)) === 200, 60_000);
  await waitFor('the spill replayed and freed', () => !existsSync(path.join(backing, SPILL_DIR_NAME)), 120_000);
  expect(await g.stop()).toBe(0);
  fx.gateway = undefined;

  const kept = all.filter((o) => o.status === 200 || o.status === 202);
  // Three minutes at most; what was read by then is checked all the same.
  const read = await reader.drain(kept.length, 2000, 180_000);
  // Per client, the request numbers in the topic, each checked byte for byte (valuesOf).
  const stored = new Map<string, Set<number>>();
  for (const client of new Set(kept.map((o) => o.client))) stored.set(client, new Set(valuesOf(read, client)));
  const lost = kept.filter((o) => !stored.get(o.client)!.has(o.seq));
  const counts: Record<string, number> = {};
  for (const o of all) counts[String(o.status)] = (counts[String(o.status)] ?? 0) + 1;
  console.log(`${CYCLES} cuts, seed ${SEED}: answers ${JSON.stringify(counts)}; ${read.length} messages in the topic\n${cycles.join('\n')}`);
  expect(lost.slice(0, 10).map((o) => `${o.client}#${o.seq} answered ${o.status}`), `${lost.length} of ${kept.length} records answered 200 or 202 not in the topic`).toEqual([]);
});
