/**
 * Power-cut soak: many cuts in a row on one data dir, each at a random moment, with
 * segment sizes, retention and worker counts drawn from a seeded PRNG. The suite's
 * power-cut test (test/gateway/powercut.test.ts) cuts twice at fixed points; this runs the
 * same layer (test/tools/powercut_fs.py) long enough to land cuts inside rolls, retention
 * deletes, preallocation steps and recoveries of an earlier cut's leftovers.
 *
 *   npm run soak:powercut                         # 30 cuts, seed 1
 *   SOAK_CUTS=100 SOAK_SEED=7 npm run soak:powercut
 *
 * Every start after a cut must recover without refusing (no acknowledged record missing),
 * and at the end every record answered 200 in any cycle must be at the partition and
 * offset it was acknowledged with (unless retention deleted its whole segment since).
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { retainedFrom, unstoredAcks } from '../support/acknowledged.ts';
import { loadAndCut, mountPowerCut, usePowerCutFixture } from '../support/powercut-fs.ts';
import { consumeAll, spawnNode, startGateway, tempDir } from '../support/gateway-process.ts';
import { pick, prng } from '../support/prng.ts';
import type { Outcome } from '../support/sequential-load.ts';

const CUTS = Number(process.env.SOAK_CUTS ?? 30);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const PARTITIONS = 4;

const fx = usePowerCutFixture();

/**
 * Starts a gateway on fx.layer and cuts the power `ms` later, listening or not. Resolves
 * with whether it had printed its listening line (so whether its recovery had finished).
 */
async function cutWhileStarting(args: string[], ms: number): Promise<boolean> {
  const layer = fx.layer!;
  const proc = spawnNode('src/main/cli.ts', ['--port', '0', '--host', '127.0.0.1', '--admin-port', 'off', ...args]);
  let listening = false;
  proc.stdout!.on('data', (d: Buffer) => (listening ||= d.toString().includes('listening on')));
  const exited = new Promise<unknown>((resolve) => proc.once('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, ms));
  proc.kill('SIGKILL');
  await layer.cut();
  await exited;
  await layer.unmount();
  fx.layer = undefined;
  return listening;
}

it(`${CUTS} power cuts in a row (seed ${SEED}): every start recovers, every 200 survives`, { timeout: CUTS * 60_000 }, async () => {
  const random = prng(SEED);
  fx.dir = await tempDir('metricstream-powercut-soak-');
  const backing = path.join(fx.dir, 'backing', 'data');
  const all: Outcome[] = [];
  const cycles: string[] = [];
  for (let cut = 0; cut < CUTS; cut++) {
    // The partition count is fixed for the life of a data dir; the rest may change from
    // one start to the next, as an operator's restarts would.
    const workers = pick(random, ['1', '2']);
    const segmentBytes = pick(random, ['8kb', '64kb', '1mb']);
    // Now and then a retention that deletes segments, not so small that it leaves little to check.
    const retention = random() < 0.2 ? ['--retention-bytes', pick(random, ['1mb', '4mb'])] : [];
    // The commit journal at its default size, small enough to wrap and checkpoint under this
    // load, or none (a start without one replays and removes what the last start left).
    const journal = pick(random, ['16mb', '64kb', '0']);
    const cutAfter = 1 + Math.floor(random() * 1500);
    fx.layer = await mountPowerCut(fx.dir, cut);
    const dataDir = path.join(fx.layer.mount, 'data');
    const args = ['--workers', workers, '--partitions', String(PARTITIONS), '--segment-bytes', segmentBytes, ...retention, '--journal-bytes', journal, '--data-dir', dataDir];
    if (cut > 0 && random() < 0.15) {
      // A cut while the gateway starts, aimed at the recovery of the last cut's leftovers
      // (cutting torn tails, the first commit marks): here it listens about 0.5 s after its
      // spawn, and recovers just before.
      const ms = 200 + Math.floor(random() * 600);
      const listening = await cutWhileStarting(args, ms);
      cycles.push(`cut ${cut}: workers ${workers}, segments ${segmentBytes}, cut ${ms} ms into the start (${listening ? 'listening' : 'not yet listening'})`);
      continue;
    }
    const g = await startGateway(args);
    fx.gateway = g;
    const outcomes = await loadAndCut(g, fx.layer, `soak${cut}`, cutAfter);
    fx.layer = undefined;
    fx.gateway = undefined;
    all.push(...outcomes);
    const truncated = g.logs.filter((l) => typeof l.truncatedBytes === 'number').length;
    cycles.push(`cut ${cut}: workers ${workers}, segments ${segmentBytes}${retention.length ? ` retention ${retention[1]}` : ''}, cut after ${cutAfter} acks, torn tails cut in ${truncated} partitions at its start`);
  }
  // Recovery on what survived the last cut, off the layer, then everything read back.
  fx.gateway = await startGateway(['--workers', '1', '--partitions', String(PARTITIONS), '--data-dir', backing]);
  expect(await fx.gateway.stop()).toBe(0);
  fx.gateway = undefined;
  const stored = await consumeAll(backing);
  const { checked, missing } = unstoredAcks(all, stored, await retainedFrom(backing, PARTITIONS));
  const acked = all.filter((o) => o.status === 200).length;
  console.log(`${CUTS} cuts, seed ${SEED}: ${acked} answered 200, ${checked} still retained and checked, ${stored.length} stored\n${cycles.join('\n')}`);
  expect(missing.slice(0, 10), `${missing.length} of ${checked} acknowledged records lost`).toEqual([]);
});
