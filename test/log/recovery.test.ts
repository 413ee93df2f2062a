import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogReader } from '../../src/log/log-reader.ts';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
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

async function readSeqs(): Promise<{ offset: number; seq: number }[]> {
  const reader = await LogReader.open(dir);
  const out: { offset: number; seq: number }[] = [];
  let next = 0;
  for (;;) {
    const res = await reader.read(0, next, 64);
    if (res.records.length === 0) break;
    for (const r of res.records) out.push({ offset: r.offset, seq: (unpack(r.value) as { seq: number }).seq });
    next = res.nextOffset;
  }
  await reader.close();
  return out;
}

/** Reopens, appends 5 more records (seq 1000..) and checks the whole partition reads back. */
async function reopenAppendAndCheck(expectLastGood: number) {
  const log = await PartitionedLog.open(dir, { partitions: 1 });
  expect(log.nextOffset(0)).toBe(expectLastGood + 1);
  expect(log.recovery[0].truncatedBytes).toBeGreaterThan(0);
  const res = await log.append(Array.from({ length: 5 }, (_, k) => metricRecord(0, 1000 + k, 300)));
  expect(Array.from(res.offsets)).toEqual([1, 2, 3, 4, 5].map((k) => expectLastGood + k));
  await log.close();
  const all = await readSeqs();
  expect(all.map((r) => r.offset)).toEqual(Array.from({ length: expectLastGood + 6 }, (_, i) => i));
  expect(all.slice(0, expectLastGood + 1).map((r) => r.seq)).toEqual(
    Array.from({ length: expectLastGood + 1 }, (_, i) => i),
  );
  expect(all.slice(expectLastGood + 1).map((r) => r.seq)).toEqual([1000, 1001, 1002, 1003, 1004]);
}

describe('recovery at open', () => {
  it('drops a record torn in the middle and continues offsets from the last good one', async () => {
    await writeRecords(0, 50);
    const file = segmentPath(0);
    const size = (await stat(file)).size;
    // Cut the last record in half: a crash in the middle of a write.
    await truncate(file, size - 150);
    await reopenAppendAndCheck(48);
  });

  it('drops a last record whose bytes were corrupted (bad CRC)', async () => {
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

  it('recovers only the active segment after a roll, keeping sealed ones', async () => {
    const bases = await writeRecords(0, 100, { segmentBytes: 8 * 1024 });
    expect(bases.length).toBeGreaterThan(2);
    const last = bases[bases.length - 1];
    const file = segmentPath(last);
    await truncate(file, (await stat(file)).size - 1);
    const log = await PartitionedLog.open(dir, { partitions: 1, segmentBytes: 8 * 1024 });
    expect(log.nextOffset(0)).toBe(99);
    expect(log.segmentBases(0)).toEqual(bases);
    await log.close();
    const all = await readSeqs();
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 99 }, (_, i) => i));
  });
});
