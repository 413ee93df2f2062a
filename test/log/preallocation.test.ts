import { appendFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogReader } from '../../src/log/log-reader.ts';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
import { PREALLOCATE_MAX_BYTES } from '../../src/log/preallocation.ts';
import { metricRecord, removeDir, tempDir } from './helpers.ts';

let dir: string;
afterEach(async () => {
  if (dir) await removeDir(dir);
});

const segment = (d: string, base = 0) => path.join(d, 'partition-0', `${String(base).padStart(20, '0')}.log`);

describe('segment preallocation', () => {
  it('appends into written zeros ahead of the records, and a clean close cuts them off', async () => {
    dir = await tempDir();
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    await log.append([metricRecord(0, 0, 100), metricRecord(0, 1, 100)]);
    // Room ahead of the two records already exists on disk: the next appends do not grow the file.
    expect((await stat(segment(dir))).size).toBeGreaterThanOrEqual(PREALLOCATE_MAX_BYTES);
    // Readers see the records, not the zeros.
    const reader = await LogReader.open(dir);
    expect((await reader.read(0, 0, 10)).records.map((r) => r.offset)).toEqual([0, 1]);
    await reader.close();
    await log.close();
    const size = (await stat(segment(dir))).size;
    expect(size).toBeLessThan(1024);
    const reopened = await PartitionedLog.open(dir, { partitions: 1 });
    expect(reopened.nextOffset(0)).toBe(2);
    expect(reopened.recovery[0].truncatedBytes).toBe(0);
    await reopened.close();
  });

  it('a sealed segment ends at its last record (zeros are cut before the next segment exists)', async () => {
    dir = await tempDir();
    const log = await PartitionedLog.open(dir, { partitions: 1, segmentBytes: 4096 });
    for (let i = 0; i < 12; i++) await log.append([metricRecord(0, i, 900)]);
    const bases = log.segmentBases(0);
    expect(bases.length).toBeGreaterThan(1);
    // Every sealed segment is exactly as long as its records: a reader crosses it cleanly.
    const reader = await LogReader.open(dir);
    expect((await reader.read(0, 0, 100)).records.map((r) => r.offset)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    await reader.close();
    for (const base of bases.slice(0, -1)) expect((await stat(segment(dir, base))).size).toBeLessThanOrEqual(4096);
    await log.close();
  });

  it('after a crash the zeros read as the end: recovery cuts them and offsets continue', async () => {
    dir = await tempDir();
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    await log.append([metricRecord(0, 0, 100)]);
    await log.close();
    // The file as kill -9 leaves it: records, then written-ahead zeros (test/log/crash.test.ts
    // kills a real writer; here the state is built exactly).
    const file = segment(dir);
    const records = (await stat(file)).size;
    await appendFile(file, Buffer.alloc(2 * 1024 * 1024));
    const reopened = await PartitionedLog.open(dir, { partitions: 1 });
    expect(reopened.nextOffset(0)).toBe(1);
    expect(reopened.recovery[0].truncatedBytes).toBe(2 * 1024 * 1024);
    expect((await stat(file)).size).toBe(records);
    expect(Array.from((await reopened.append([metricRecord(0, 1, 100)])).offsets)).toEqual([1]);
    await reopened.close();
    const reader = await LogReader.open(dir);
    expect((await reader.read(0, 0, 10)).records.map((r) => r.offset)).toEqual([0, 1]);
    await reader.close();
  });
});
