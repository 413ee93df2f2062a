import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogReader, type DamagedRange } from '../../src/log/log-reader.ts';
import { DataLossRefusedError, PartitionedLog } from '../../src/log/partitioned-log.ts';
import { metricRecord, removeDir, tempDir } from './helpers.ts';

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

const segmentPath = (base: number, ext = 'log') => path.join(dir, 'partition-0', `${String(base).padStart(20, '0')}.${ext}`);

/** Writes `count` records (seq from..) to partition 0 in batches of 10 and closes the log. */
async function writeRecords(from: number, count: number, opts: { segmentBytes?: number } = {}) {
  const log = await PartitionedLog.open(dir, { partitions: 1, ...opts });
  for (let i = 0; i < count; i += 10) {
    const n = Math.min(10, count - i);
    await log.append(Array.from({ length: n }, (_, k) => metricRecord(0, from + i + k, 300)));
  }
  const bases = log.segmentBases(0);
  await log.close();
  return bases;
}

/** Every readable record of partition 0; damaged ranges the reader reported go to `damaged`. */
async function readSeqs(damaged: DamagedRange[] = []): Promise<{ offset: number; seq: number }[]> {
  const reader = await LogReader.open(dir);
  const out: { offset: number; seq: number }[] = [];
  let next = 0;
  for (;;) {
    const res = await reader.read(0, next, 64);
    damaged.push(...res.damaged);
    if (res.records.length === 0 && res.nextOffset === next) break;
    for (const r of res.records) out.push({ offset: r.offset, seq: (unpack(r.value) as { seq: number }).seq });
    next = res.nextOffset;
  }
  await reader.close();
  return out;
}

/**
 * After acknowledged records [expectLastGood + 1, acked) were destroyed: the log refuses to
 * open (changing nothing), opens with acceptDataLoss, continues at `acked` (never reusing
 * a lost offset), and a reader delivers every good record and reports the lost ones.
 */
async function reopenAppendAndCheck(expectLastGood: number, acked = 50, opts: { segmentBytes?: number } = {}) {
  await expect(PartitionedLog.open(dir, { partitions: 1, ...opts })).rejects.toThrow(DataLossRefusedError);
  const log = await PartitionedLog.open(dir, { partitions: 1, ...opts, acceptDataLoss: true });
  expect(log.recovery[0].newlyLost.map((r) => [r.from, r.to])).toEqual([[expectLastGood + 1, acked]]);
  expect(log.nextOffset(0)).toBe(acked);
  const res = await log.append(Array.from({ length: 5 }, (_, k) => metricRecord(0, 1000 + k, 300)));
  expect(Array.from(res.offsets)).toEqual([0, 1, 2, 3, 4].map((k) => acked + k));
  await log.close();
  const damaged: DamagedRange[] = [];
  const all = await readSeqs(damaged);
  expect(damaged.map((d) => [d.from, d.to])).toEqual([[expectLastGood + 1, acked]]);
  expect(all.map((r) => r.offset)).toEqual([...Array.from({ length: expectLastGood + 1 }, (_, i) => i), ...[0, 1, 2, 3, 4].map((k) => acked + k)]);
  expect(all.map((r) => r.seq)).toEqual([...Array.from({ length: expectLastGood + 1 }, (_, i) => i), 1000, 1001, 1002, 1003, 1004]);
  // Accepted once: the next start neither refuses nor reports it as new.
  const again = await PartitionedLog.open(dir, { partitions: 1, ...opts });
  expect(again.recovery[0].newlyLost).toEqual([]);
  expect(again.lostRecords).toEqual([acked - expectLastGood - 1]);
  await again.close();
}

describe('recovery at open', () => {
  it('an acknowledged record torn in the middle: refused, then (accepted) offsets continue after the commit mark', async () => {
    await writeRecords(0, 50);
    const file = segmentPath(0);
    const size = (await stat(file)).size;
    // Cut the last record in half: a crash in the middle of a write.
    await truncate(file, size - 150);
    await reopenAppendAndCheck(48);
  });

  it('an acknowledged last record with a bad CRC: refused, then reported and never reused', async () => {
    await writeRecords(0, 50);
    const file = segmentPath(0);
    const size = (await stat(file)).size;
    const fh = await open(file, 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 10);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, size - 10);
    await fh.close();
    await reopenAppendAndCheck(48);
  });

  it('drops garbage appended after the last record and fixes an index that points past the end', async () => {
    await writeRecords(0, 50);
    const file = segmentPath(0);
    const goodSize = (await stat(file)).size;
    const fh = await open(file, 'a');
    await fh.write(Buffer.alloc(5000, 0xab));
    await fh.close();
    // An index entry pointing into the garbage, as if the index write had survived a crash
    // that the log's tail did not.
    const index = await readFile(segmentPath(0, 'index'));
    const bogus = Buffer.alloc(8);
    bogus.writeUInt32LE(60, 0);
    bogus.writeUInt32LE(goodSize + 100, 4);
    await writeFile(segmentPath(0, 'index'), Buffer.concat([index, bogus]));

    const log = await PartitionedLog.open(dir, { partitions: 1 });
    expect(log.nextOffset(0)).toBe(50);
    expect(log.recovery[0].truncatedBytes).toBe(5000);
    await log.close();
    expect((await stat(file)).size).toBe(goodSize);
    expect((await stat(segmentPath(0, 'index'))).size).toBe(index.length);
    expect((await readSeqs()).length).toBe(50);
  });

  it('rebuilds a lost index of the active segment', async () => {
    await writeRecords(0, 50);
    const index = await readFile(segmentPath(0, 'index'));
    expect(index.length).toBeGreaterThan(0);
    await truncate(segmentPath(0, 'index'), 0);
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    expect(log.nextOffset(0)).toBe(50);
    await log.close();
    expect(await readFile(segmentPath(0, 'index'))).toEqual(index);
  });

  it('recovers the active segment after a roll, keeping sealed ones; a lost acknowledged tail is not reused', async () => {
    const bases = await writeRecords(0, 100, { segmentBytes: 8 * 1024 });
    expect(bases.length).toBeGreaterThan(2);
    const last = bases[bases.length - 1];
    const file = segmentPath(last);
    await truncate(file, (await stat(file)).size - 1);
    await reopenAppendAndCheck(98, 100, { segmentBytes: 8 * 1024 });
  });

  it('cuts an unacknowledged torn tail silently (past the commit mark)', async () => {
    await writeRecords(0, 50);
    const file = segmentPath(0);
    const good = (await stat(file)).size;
    // Half a frame past the last acknowledged record: a crash in the middle of a write.
    const fh = await open(file, 'a');
    const frame = Buffer.alloc(400);
    frame.writeUInt32LE(396, 0);
    await fh.write(frame.subarray(0, 150));
    await fh.close();
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    expect(log.nextOffset(0)).toBe(50);
    expect(log.recovery[0].lost).toEqual([]);
    expect(log.recovery[0].truncatedBytes).toBe(150);
    await log.close();
    expect((await stat(file)).size).toBe(good);
  });
});
