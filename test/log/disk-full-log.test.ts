/**
 * The log on a real full disk (a 2 MiB tmpfs mounted by the test; needs root, like
 * test/gateway/disk-full.test.ts): after an ENOSPC the partitions stop writing zeros ahead
 * of their records for 1000 commits (src/log/preallocation.ts), and when they start again
 * the zeros must go past the records appended meanwhile, never over them. They once went
 * over them: a gateway that had been through a disk-full episode zeroed a few hundred
 * acknowledged records per partition about 1000 commits later (found by
 * `npm run soak:disk-full`). The gateway-level test cannot reach the 1000th commit in its
 * time, so this one drives PartitionedLog directly.
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { LogReader } from '../../src/log/log-reader.ts';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
import { fillDisk, useSmallDisk } from '../support/small-disk.ts';
import { metricRecord } from './helpers.ts';

const disk = useSmallDisk('2m');

describe('the log on a full disk', () => {
  it('zeros written ahead after a disk-full episode never overwrite or cut records acknowledged meanwhile', async () => {
    const dataDir = path.join(disk.dir, 'data');
    const filler = path.join(disk.dir, 'filler');
    const log = await PartitionedLog.open(dataDir, { partitions: 1 });
    const acked = new Map<number, number>();
    let seq = 0;
    const append = async (pad: number): Promise<boolean> => {
      const s = seq++;
      const { offsets } = await log.append([metricRecord(0, s, pad)]);
      if (offsets[0] >= 0) acked.set(offsets[0], s);
      return offsets[0] >= 0;
    };

    // Fill the disk, then append until the records outgrow the zeros already ahead of them:
    // ENOSPC, and writing ahead pauses.
    for (let i = 0; i < 5; i++) expect(await append(100)).toBe(true);
    await fillDisk(filler);
    let refused = 0;
    for (let i = 0; i < 200 && refused === 0; i++) if (!(await append(4000))) refused++;
    expect(refused, 'an append refused once the disk is full').toBe(1);

    // Space back. 1000 commits go through while writing ahead is paused, each past the zeros.
    await rm(filler);
    for (let i = 0; i < 1000; i++) expect(await append(100)).toBe(true);
    // Writing ahead resumes now: its zeros start past those records.
    const segment = path.join(dataDir, 'partition-0', '00000000000000000000.log');
    const before = (await stat(segment)).size;
    for (let i = 0; i < 5; i++) expect(await append(100)).toBe(true);
    expect((await stat(segment)).size, 'the writer wrote zeros ahead again').toBeGreaterThan(before + 16 * 1024);

    // A second episode while zeros are being written: the partial zeros are cut back to the
    // last record, not to where the zeros stood before the pause.
    await fillDisk(filler);
    refused = 0;
    for (let i = 0; i < 200 && refused === 0; i++) if (!(await append(4000))) refused++;
    expect(refused).toBe(1);
    await rm(filler);
    for (let i = 0; i < 1010; i++) expect(await append(100)).toBe(true);
    await log.close();

    // Every acknowledged record reads back with its own value, and a reopen finds no loss
    // (it would refuse to open with DataLossRefusedError).
    const reopened = await PartitionedLog.open(dataDir, { partitions: 1 });
    expect(reopened.nextOffset(0)).toBe(Math.max(...acked.keys()) + 1);
    await reopened.close();
    const reader = await LogReader.open(dataDir);
    const read = new Map<number, number>();
    for (let from = 0; ; ) {
      const r = await reader.read(0, from, 500);
      expect(r.damaged).toEqual([]);
      if (r.records.length === 0) break;
      for (const rec of r.records) read.set(rec.offset, (unpack(rec.value) as { seq: number }).seq);
      from = r.nextOffset;
    }
    await reader.close();
    expect(acked.size).toBeGreaterThan(2000);
    const wrong = [...acked].filter(([offset, s]) => read.get(offset) !== s);
    expect(wrong.length, `acknowledged records not read back, e.g. offsets ${wrong.slice(0, 5).map(([o]) => o).join(', ')}`).toBe(0);
  });
});
