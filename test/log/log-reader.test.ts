import { open, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogReader } from '../../src/log/log-reader.ts';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
import { encodeFrame, frameSize } from '../../src/log/record-frame.ts';
import { metricRecord, removeDir, tempDir } from './helpers.ts';

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

const segmentPath = (base: number) => path.join(dir, 'partition-0', `${String(base).padStart(20, '0')}.log`);

async function fill(log: PartitionedLog, from: number, count: number, pad = 300) {
  for (let i = 0; i < count; i += 10) {
    await log.append(Array.from({ length: Math.min(10, count - i) }, (_, k) => metricRecord(0, from + i + k, pad)));
  }
}

function frameFor(offset: number, seq: number): Buffer {
  const rec = metricRecord(0, seq, 300);
  const buf = Buffer.alloc(frameSize(rec.key.length, rec.value.length));
  encodeFrame(buf, 0, offset, rec);
  return buf;
}

describe('LogReader', () => {
  it('follows a writer: each read returns what was committed since, in order', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1, segmentBytes: 8 * 1024 });
    const reader = await LogReader.open(dir);
    expect(await reader.startOffset(0)).toBe(0);
    expect(await reader.endOffset(0)).toBe(0);
    expect((await reader.read(0, 0, 10)).records).toEqual([]);
    let next = 0;
    for (let round = 0; round < 12; round++) {
      await fill(log, round * 7, 7);
      const res = await reader.read(0, next, 100);
      expect(res.records.map((r) => r.offset)).toEqual(Array.from({ length: 7 }, (_, i) => round * 7 + i));
      next = res.nextOffset;
      expect(await reader.endOffset(0)).toBe(next);
    }
    expect(log.segmentBases(0).length).toBeGreaterThan(2);
    await reader.close();
    await log.close();
  });

  it('never returns a record past the commit mark (written but not yet fdatasync-ed)', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    await fill(log, 0, 10);
    // A whole, valid frame for offset 10 lands in the file as if the writer's write had
    // happened and its fdatasync had not returned yet.
    const fh = await open(segmentPath(0), 'a');
    await fh.write(frameFor(10, 10));
    await fh.close();
    const reader = await LogReader.open(dir);
    const res = await reader.read(0, 0, 100);
    expect(res.records.length).toBe(10);
    expect(res.nextOffset).toBe(10);
    expect(await reader.endOffset(0)).toBe(10);
    await reader.close();
    await log.close();
  });

  it('without a commit mark, stops before a torn last frame and reads it once it is whole', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    await fill(log, 0, 10);
    await log.close();
    await unlink(path.join(dir, 'commit-marks'));
    const frame = frameFor(10, 10);
    const fh = await open(segmentPath(0), 'a');
    await fh.write(frame.subarray(0, 100));
    const reader = await LogReader.open(dir);
    const torn = await reader.read(0, 0, 100);
    expect(torn.records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(torn.nextOffset).toBe(10);
    expect(await reader.endOffset(0)).toBe(10);
    await fh.write(frame.subarray(100));
    await fh.close();
    const whole = await reader.read(0, torn.nextOffset, 100);
    expect(whole.records.map((r) => (unpack(r.value) as { seq: number }).seq)).toEqual([10]);
    await reader.close();
  });

  it('seeks with the index: a read from the middle of a segment never touches its start', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1, segmentBytes: 64 * 1024 });
    await fill(log, 0, 300);
    const bases = log.segmentBases(0);
    await log.close();
    expect(bases.length).toBeGreaterThan(1);
    // Wreck the first frames of the first (sealed) segment.
    const fh = await open(segmentPath(0), 'r+');
    await fh.write(Buffer.alloc(64, 0xee), 0, 64, 0);
    await fh.close();

    const reader = await LogReader.open(dir);
    const mid = Math.floor(bases[1] * 0.75);
    const res = await reader.read(0, mid, 3);
    expect(res.records.map((r) => r.offset)).toEqual([mid, mid + 1, mid + 2]);
    // Reading from its start does hit the damage, and says so rather than skipping it
    // silently: the damaged offsets are reported and the good records after them delivered.
    const fromStart = await reader.read(0, 0, 3);
    expect(fromStart.damaged.length).toBe(1);
    expect(fromStart.damaged[0].from).toBe(0);
    expect(fromStart.damaged[0].reason).toMatch(/partition 0: damaged: .* at segment 0 byte 0/);
    const resume = fromStart.damaged[0].to;
    expect(fromStart.records.map((r) => r.offset)).toEqual([resume, resume + 1, resume + 2]);
    await reader.close();
  });

  it('reports a bad frame inside a sealed segment with its offset and reads on after it', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1, segmentBytes: 16 * 1024 });
    await fill(log, 0, 120);
    const bases = log.segmentBases(0);
    await log.close();
    const size = (await stat(segmentPath(0))).size;
    const fh = await open(segmentPath(0), 'r+');
    await fh.write(Buffer.from([0x5a]), 0, 1, size - 20);
    await fh.close();
    const reader = await LogReader.open(dir);
    const b = bases[1];
    const res = await reader.read(0, b - 3, 10);
    // The last record of segment 0 is damaged: reported, the ones around it delivered.
    expect(res.damaged).toEqual([{ from: b - 1, to: b, reason: expect.stringMatching(/damaged: corrupt frame at segment 0 byte/) }]);
    expect(res.records.map((r) => r.offset)).toEqual([b - 3, b - 2, ...Array.from({ length: 8 }, (_, i) => b + i)]);
    // Later segments are still readable.
    expect((await reader.read(0, bases[1], 2)).records.map((r) => r.offset)).toEqual([bases[1], bases[1] + 1]);
    await reader.close();
  });

  it('resumes after a damaged 1.5 MiB record at the next one, found across read chunks', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    await fill(log, 0, 3);
    await log.append([metricRecord(0, 3, 1_500_000)]);
    await log.append([metricRecord(0, 4, 1_200_000)]);
    await fill(log, 5, 3);
    await log.close();
    // A byte in the middle of record 3's value: its CRC fails; its length still reads right
    // but nothing trusts it, so the search for the next frame runs through 1.5 MiB.
    const reader0 = await LogReader.open(dir);
    const firstThree = await reader0.read(0, 0, 3);
    await reader0.close();
    const start3 = firstThree.records.reduce((n, r) => n + frameSize(r.key.length, r.value.length), 0);
    const fh = await open(segmentPath(0), 'r+');
    await fh.write(Buffer.from([0x00, 0x01, 0x02]), 0, 3, start3 + 700_000);
    await fh.close();

    const reader = await LogReader.open(dir);
    const res = await reader.read(0, 0, 100);
    expect(res.damaged).toEqual([{ from: 3, to: 4, reason: expect.stringMatching(/damaged: corrupt frame at segment 0 byte \d+; good frames resume/) }]);
    expect(res.records.map((r) => r.offset)).toEqual([0, 1, 2, 4, 5, 6, 7]);
    expect(res.records.map((r) => (unpack(r.value) as { seq: number }).seq)).toEqual([0, 1, 2, 4, 5, 6, 7]);
    await reader.close();
    // The writer refuses to start on it (record 3 was acknowledged), then keeps 4..7 when accepted.
    await expect(PartitionedLog.open(dir, { partitions: 1 })).rejects.toThrow(/partition 0: offsets 3-3 \(1 records: corrupt frame at byte/);
    const accepted = await PartitionedLog.open(dir, { partitions: 1, acceptDataLoss: true });
    expect(accepted.nextOffset(0)).toBe(8);
    expect(accepted.recovery[0].truncatedBytes).toBe(0);
    await accepted.close();
  });

  it('refuses a directory that holds no log', async () => {
    await expect(LogReader.open(dir)).rejects.toThrow(/no meta\.json/);
  });
});
