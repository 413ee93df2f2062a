/**
 * Log-error soak: a gateway under load on the FUSE power-cut layer while writes, truncates
 * and fsyncs of its segments, indexes, commit marks and commit journal (256 KiB: it wraps
 * and checkpoints), and unlinks of retention, fail with EIO or ENOSPC, or their fsyncs or
 * writes stall (a disk that stops answering, past the gateway's --disk-stall-timeout of 200
 * ms or not; a stalled write() holds the owner thread itself), for a random while (seeded
 * PRNG), again and again;
 * then the power is cut.
 * The suite's log-error and write-failure tests inject one failure each; this looks for
 * what a run of them finds: a failed fdatasync whose records were answered 200 anyway or
 * come back after the cut as something else, a repair that cuts acknowledged records, a
 * gateway that never becomes ready again, a restart that refuses.
 *
 *   npm run soak:log-errors                             # 60 episodes, seed 1
 *   SOAK_EPISODES=200 SOAK_SEED=2 npm run soak:log-errors
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { retainedFrom, unstoredAcks } from '../support/acknowledged.ts';
import { consumeAll, startGateway, tempDir } from '../support/gateway-process.ts';
import { mountPowerCut, usePowerCutFixture } from '../support/powercut-fs.ts';
import { pick, prng } from '../support/prng.ts';
import { readyz } from '../support/readiness.ts';
import { loadUntil } from '../support/sequential-load.ts';
import { waitFor } from '../support/wait-for.ts';

const EPISODES = Number(process.env.SOAK_EPISODES ?? 60);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const PARTITIONS = 4;

const fx = usePowerCutFixture();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`${EPISODES} injected log failures under load, then a power cut (seed ${SEED}): every 200 survives`, { timeout: EPISODES * 10_000 + 180_000 }, async () => {
  const random = prng(SEED);
  fx.dir = await tempDir('metricstream-log-errors-soak-');
  fx.layer = await mountPowerCut(fx.dir, 0);
  const layer = fx.layer;
  const dataDir = path.join(layer.mount, 'data');
  const g = await startGateway(['--workers', '2', '--partitions', String(PARTITIONS), '--segment-bytes', '16kb', '--retention-bytes', '1mb', '--journal-bytes', '256kb', '--disk-stall-timeout', '200ms', '--data-dir', dataDir]);
  fx.gateway = g;
  let cut!: () => void;
  const cutNow = new Promise<void>((resolve) => (cut = resolve));
  const load = loadUntil(g.port, 'err', 12, cutNow);

  const episodes: string[] = [];
  for (let i = 0; i < EPISODES; i++) {
    await sleep(50 + Math.floor(random() * 400));
    const [op, suffix] = pick(random, [
      ['write', '.log'],
      ['write', '.log'],
      ['write', '.index'],
      ['write', 'commit-marks'],
      ['unlink', '.log'],
      ['stall', '.log'],
      ['stall', 'commit-marks'],
      // The commit journal: its entries' writes and syncs, the segments' syncs at its
      // checkpoints (alone, so that its entries still go through), a journal that stalls.
      ['write', '/journal'],
      ['fsync', '.log'],
      ['stall', '/journal'],
      // Writes that do not return: the owner thread is held (the workers time it themselves).
      ['stall-write', '.log'],
      ['stall-write', 'commit-marks'],
      ['stall-write', '/journal'],
    ] as const);
    const errno = op === 'stall' || op === 'stall-write' ? 'stalled' : pick(random, ['EIO', 'ENOSPC']);
    const ms = 20 + Math.floor(random() * 500);
    if (op === 'stall') await layer.stall(suffix);
    else if (op === 'stall-write') await layer.stall(suffix, 'write');
    else await layer.fail(op, suffix, errno);
    await sleep(ms);
    await layer.heal();
    episodes.push(`${op} ${suffix} ${errno} ${ms} ms`);
  }
  // Healed: the gateway must become ready again, then the power goes.
  await waitFor('/readyz 200 once every failure was healed', async () => (await readyz(g.port)) === 200, 10_000, { everyMs: 100 });
  await sleep(500);
  g.proc.kill('SIGKILL');
  await layer.cut();
  cut();
  const outcomes = await load;
  await g.exited;
  await layer.unmount();
  fx.layer = undefined;
  fx.gateway = undefined;

  const backing = path.join(fx.dir, 'backing', 'data');
  fx.gateway = await startGateway(['--workers', '1', '--partitions', String(PARTITIONS), '--data-dir', backing]);
  expect(await fx.gateway.stop()).toBe(0);
  fx.gateway = undefined;
  const stored = await consumeAll(backing);
  const { checked, missing } = unstoredAcks(outcomes, stored, await retainedFrom(backing, PARTITIONS));
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[String(o.status)] = (counts[String(o.status)] ?? 0) + 1;
  const errorLines = g.logs.filter((l) => l.level === 50).length;
  console.log(`${EPISODES} injected failures, seed ${SEED}: answers ${JSON.stringify(counts)}, ${errorLines} error lines; ${checked} answered 200 still retained and checked, ${stored.length} stored\n${episodes.join(', ')}`);
  expect(missing.slice(0, 10), `${missing.length} of ${checked} acknowledged records lost`).toEqual([]);
});
