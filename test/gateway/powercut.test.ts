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

/**
 * Starts a gateway with its data dir on the layer and cuts the power under load
 * (loadAndCut). Returns the answers, and the records the journal's replay wrote back at
 * this start (from its start-up line).
 */
async function startAndCut(dataDir: string, phase: string, cutAfter: number, flags: string[]): Promise<{ outcomes: Outcome[]; replayed: number }> {
  const g = await startGateway(['--workers', '2', '--partitions', '4', '--segment-bytes', '8kb', ...flags, '--data-dir', dataDir]);
  fx.gateway = g;
  const outcomes = await loadAndCut(g, fx.layer!, `pc_${phase}`, cutAfter);
  fx.layer = undefined;
  fx.gateway = undefined;
  return { outcomes, replayed: replayedRecords(g.logs) };
}

/** Records the journal's replay wrote back at a start, from its start-up line (0 if none). */
function replayedRecords(logs: Record<string, unknown>[]): number {
  return logs.reduce((sum, l) => sum + (typeof l.journalRecords === 'number' ? l.journalRecords : 0), 0);
}

function expectEveryAckStored(outcomes: Outcome[], stored: ConsumedLine[]): number {
  const { checked, missing } = unstoredAcks(outcomes, stored);
  expect(missing.length, `${missing.length} of ${checked} records answered 200 lost after the power cut, e.g. ${missing.slice(0, 5).join('; ')}`).toBe(0);
  return checked;
}

// Three ways a commit becomes durable: the journal (its default size: no checkpoint in
// this test, so the restart must replay it), a 64 KiB journal (it wraps and checkpoints
// many times under this load), and no journal (each touched partition's own fdatasync).
const JOURNALS = [
  { name: 'the commit journal', flags: [] as string[], mustReplay: true },
  { name: 'a 64 KiB journal that wraps and checkpoints', flags: ['--journal-bytes', '64kb'], mustReplay: false },
  { name: 'no journal', flags: ['--journal-bytes', '0'], mustReplay: false },
];

describe('power cut (FUSE layer that forgets unsynced data)', () => {
  it.each(JOURNALS)('first start on an empty data dir, segment rolls, $name: every 200 survives two cuts under load', async ({ name, flags, mustReplay }) => {
    fx.dir = await tempDir('metricstream-powercut-');
    // Phase a: the data dir does not exist yet; the gateway creates it, meta.json, partition-N/.
    fx.layer = await mountPowerCut(fx.dir, 0);
    const a = await startAndCut(path.join(fx.layer.mount, 'data'), 'a', 600, flags);
    const backing = path.join(fx.dir, 'backing', 'data');
    // Phase b: restart on what survived (still on the layer), more load, cut again.
    fx.layer = await mountPowerCut(fx.dir, 1);
    const b = await startAndCut(path.join(fx.layer.mount, 'data'), 'b', 600, flags);

    // Recovery on the survivors (off the layer), then read everything back.
    fx.gateway = await startGateway(['--workers', '1', '--partitions', '4', '--segment-bytes', '8kb', ...flags, '--data-dir', backing]);
    const cutBytes = fx.gateway.logs.filter((l) => typeof l.truncatedBytes === 'number').map((l) => `p${l.partition}:${l.truncatedBytes}`);
    const replayedLast = replayedRecords(fx.gateway.logs);
    expect(await fx.gateway.stop()).toBe(0);
    const stored = await consumeAll(backing);
    const counts = await Promise.all([0, 1, 2, 3].map(async (p) => (await readdir(path.join(backing, `partition-${p}`))).filter((f) => f.endsWith('.log')).length));
    const ackedA = expectEveryAckStored(a.outcomes, stored);
    const ackedB = expectEveryAckStored(b.outcomes, stored);
    // Segments rolled (several per partition) while the power was on.
    expect(Math.max(...counts)).toBeGreaterThan(2);
    // The restarts after the cuts wrote acknowledged records back from the journal.
    if (mustReplay) expect(b.replayed + replayedLast).toBeGreaterThan(0);
    console.log(`power cut, ${name}: ${ackedA} + ${ackedB} records answered 200, ${stored.length} stored after two cuts; segments per partition ${counts.join(',')}; records replayed from the journal at the restarts ${b.replayed} and ${replayedLast}; bytes cut at the last restart ${cutBytes.join(' ') || 'none'}`);
  });
});
