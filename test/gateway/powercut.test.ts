/**
 * Durability against a power cut, not only kill -9: the data dir sits on a FUSE layer
 * (test/tools/powercut_fs.py) that, at the cut, forgets every byte not fdatasync'd and
 * every directory entry whose directory was not fsync'd. kill -9 alone keeps the page
 * cache, so it cannot catch a missing fdatasync or directory fsync; this test does.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { unstoredAcks } from '../support/acknowledged.ts';
import { loadAndCut, mountPowerCut, usePowerCutFixture } from '../support/powercut-fs.ts';
import { consumeAll, startGateway, tempDir, type ConsumedLine } from '../support/gateway-process.ts';
import type { Outcome } from '../support/sequential-load.ts';

const fx = usePowerCutFixture();

/** Starts a gateway with its data dir on the layer and cuts the power under load (loadAndCut). */
async function startAndCut(dataDir: string, phase: string, cutAfter: number): Promise<Outcome[]> {
  const g = await startGateway(['--workers', '2', '--partitions', '4', '--segment-bytes', '8kb', '--data-dir', dataDir]);
  fx.gateway = g;
  const outcomes = await loadAndCut(g, fx.layer!, `pc_${phase}`, cutAfter);
  fx.layer = undefined;
  fx.gateway = undefined;
  return outcomes;
}

function expectEveryAckStored(outcomes: Outcome[], stored: ConsumedLine[]): number {
  const { checked, missing } = unstoredAcks(outcomes, stored);
  expect(missing.length, `${missing.length} of ${checked} records answered 200 lost after the power cut, e.g. ${missing.slice(0, 5).join('; ')}`).toBe(0);
  return checked;
}

describe('power cut (FUSE layer that forgets unsynced data)', () => {
  it('first start on an empty data dir, segment rolls: every 200 survives two cuts under load', async () => {
    fx.dir = await tempDir('metricstream-powercut-');
    // Phase a: the data dir does not exist yet; the gateway creates it, meta.json, partition-N/.
    fx.layer = await mountPowerCut(fx.dir, 0);
    const a = await startAndCut(path.join(fx.layer.mount, 'data'), 'a', 600);
    const backing = path.join(fx.dir, 'backing', 'data');
    // Phase b: restart on what survived (still on the layer), more load, cut again.
    fx.layer = await mountPowerCut(fx.dir, 1);
    const b = await startAndCut(path.join(fx.layer.mount, 'data'), 'b', 600);

    // Recovery on the survivors (off the layer), then read everything back.
    fx.gateway = await startGateway(['--workers', '1', '--partitions', '4', '--segment-bytes', '8kb', '--data-dir', backing]);
    const cutBytes = fx.gateway.logs.filter((l) => typeof l.truncatedBytes === 'number').map((l) => `p${l.partition}:${l.truncatedBytes}`);
    expect(await fx.gateway.stop()).toBe(0);
    const stored = await consumeAll(backing);
    const counts = await Promise.all([0, 1, 2, 3].map(async (p) => (await readdir(path.join(backing, `partition-${p}`))).filter((f) => f.endsWith('.log')).length));
    const ackedA = expectEveryAckStored(a, stored);
    const ackedB = expectEveryAckStored(b, stored);
    // Segments rolled (several per partition) while the power was on.
    expect(Math.max(...counts)).toBeGreaterThan(2);
    console.log(`power cut: ${ackedA} + ${ackedB} records answered 200, ${stored.length} stored after two cuts; segments per partition ${counts.join(',')}; bytes cut at the last restart ${cutBytes.join(' ') || 'none'}`);
  });
});
