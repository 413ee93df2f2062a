import { spawn } from 'node:child_process';
import { lstat, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogReader } from '../../src/log/log-reader.ts';
import { LogSink } from '../../src/log/log-sink.ts';
import { LogMetaMismatchError } from '../../src/log/log-meta.ts';
import { ConcurrentAppendError, PartitionedLog } from '../../src/log/partitioned-log.ts';
import { LogLockedError } from '../../src/log/writer-lock.ts';
import { metricRecord, removeDir, tempDir } from './helpers.ts';

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

/** Reads a whole partition from `from` in small steps, as a consumer would. */
async function readAll(reader: LogReader, partition: number, from = 0, step = 7) {
  const out: { offset: number; seq: number; partition: number }[] = [];
  let next = from;
  for (;;) {
    const res = await reader.read(partition, next, step);
    if (res.records.length === 0) return out;
    for (const r of res.records) {
      const v = unpack(r.value) as { seq: number; metrics: { tags: { p: number } }[] };
      out.push({ offset: r.offset, seq: v.seq, partition: v.metrics[0].tags.p });
    }
    next = res.nextOffset;
  }
}

describe('LogSink / PartitionedLog', () => {
  it('resolves offsets in batch order, numbered per partition from 0', async () => {
    const sink = new LogSink({ dataDir: dir, partitions: 3 });
    await sink.open();
    expect(sink.isReady()).toBe(true);
    const batch = [0, 1, 0, 2, 0, 1].map((p, i) => metricRecord(p, i));
    const res = await sink.append(batch);
    expect(res.error).toBeUndefined();
    expect(Array.from(res.offsets)).toEqual([0, 0, 1, 0, 2, 1]);
    const res2 = await sink.append([metricRecord(1, 6), metricRecord(0, 7)]);
    expect(Array.from(res2.offsets)).toEqual([2, 3]);
    await sink.close();

    const reader = await LogReader.open(dir);
    expect((await readAll(reader, 0)).map((r) => r.seq)).toEqual([0, 2, 4, 7]);
    expect((await readAll(reader, 1)).map((r) => r.seq)).toEqual([1, 5, 6]);
    expect((await readAll(reader, 2)).map((r) => r.seq)).toEqual([3]);
    await reader.close();
  });

  it('continues offsets across close and reopen', async () => {
    for (let round = 0; round < 3; round++) {
      const sink = new LogSink({ dataDir: dir, partitions: 2 });
      await sink.open();
      const res = await sink.append([metricRecord(0, round * 2), metricRecord(1, round * 2 + 1)]);
      expect(Array.from(res.offsets)).toEqual([round, round]);
      await sink.close();
    }
    const reader = await LogReader.open(dir);
    expect(await reader.endOffset(0)).toBe(3);
    expect((await readAll(reader, 0)).map((r) => r.offset)).toEqual([0, 1, 2]);
    await reader.close();
  });

  it('stores the partition count and refuses to reopen with another', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 4 });
    await log.close();
    expect(JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')).partitions).toBe(4);
    await expect(PartitionedLog.open(dir, { partitions: 8 })).rejects.toThrow(LogMetaMismatchError);
    await expect(PartitionedLog.open(dir, { partitions: 8 })).rejects.toThrow(/created with 4 partitions/);
    // The right count still opens.
    const again = await PartitionedLog.open(dir, { partitions: 4 });
    await again.close();
  });

  it('refuses a second writer on the same data dir while the first is open', async () => {
    const first = await PartitionedLog.open(dir, { partitions: 1 });
    await expect(PartitionedLog.open(dir, { partitions: 1 })).rejects.toThrow(LogLockedError);
    await first.close();
    const second = await PartitionedLog.open(dir, { partitions: 1 });
    await second.close();
  });

  it('takes over the lock of a writer that died (kill -9), but not of a live one', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    await log.append([metricRecord(0, 0)]);
    await log.close();
    const lockFile = path.join(dir, 'writer.lock');
    const startOf = async (pid: number) => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    };
    const child = spawn('sleep', ['30']);
    try {
      const pid = child.pid as number;
      await writeFile(lockFile, JSON.stringify({ pid, start: await startOf(pid) }));
      await expect(PartitionedLog.open(dir, { partitions: 1 })).rejects.toThrow(LogLockedError);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      // The lock file is still there, naming a dead process.
      const reopened = await PartitionedLog.open(dir, { partitions: 1 });
      expect(reopened.nextOffset(0)).toBe(1);
      await reopened.close();
    } finally {
      child.kill('SIGKILL');
    }
    // Same pid as ours but another start time: a previous incarnation (pid 1 in a container).
    await writeFile(lockFile, JSON.stringify({ pid: process.pid, start: '1' }));
    const again = await PartitionedLog.open(dir, { partitions: 1 });
    await again.close();
    // Our pid and our very start time, as a link (today's lock), held by no log of ours: a
    // previous boot whose process got the same pid at the same tick (a power cut, then the
    // same boot sequence). The start time cannot tell it from us; only holding it can.
    await symlink(JSON.stringify({ pid: process.pid, start: await startOf(process.pid) }), lockFile);
    const afterReboot = await PartitionedLog.open(dir, { partitions: 1 });
    expect(afterReboot.nextOffset(0)).toBe(1);
    await expect(PartitionedLog.open(dir, { partitions: 1 })).rejects.toThrow(LogLockedError);
    await afterReboot.close();
    await expect(lstat(lockFile)).rejects.toThrow(/ENOENT/);
  });

  it('rejects a concurrent append instead of interleaving two group commits', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1 });
    const first = log.append([metricRecord(0, 0)]);
    await expect(log.append([metricRecord(0, 1)])).rejects.toThrow(ConcurrentAppendError);
    expect(Array.from((await first).offsets)).toEqual([0]);
    expect(Array.from((await log.append([metricRecord(0, 1)])).offsets)).toEqual([1]);
    await log.close();
  });

  it('gives -1 and an error to a record with a bad partition, and writes the others', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 2 });
    const res = await log.append([metricRecord(0, 0), metricRecord(5, 1), metricRecord(1, 2)]);
    expect(Array.from(res.offsets)).toEqual([0, -1, 0]);
    expect(res.error).toMatch(/partition 5/);
    await log.close();
  });

  it('rolls segments and seeks with the index into the middle of a later segment', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1, segmentBytes: 64 * 1024 });
    let seq = 0;
    for (let b = 0; b < 40; b++) {
      const batch = Array.from({ length: 25 }, () => metricRecord(0, seq++, 200));
      await log.append(batch);
    }
    const bases = log.segmentBases(0);
    expect(bases.length).toBeGreaterThan(3);
    await log.close();

    const pdir = path.join(dir, 'partition-0');
    const names = (await readdir(pdir)).sort();
    expect(names).toContain('00000000000000000000.log');
    expect(names).toContain('00000000000000000000.index');
    expect(names).toContain(`${String(bases[2]).padStart(20, '0')}.log`);
    // Segments stay within segmentBytes (each batch is far smaller than a segment).
    for (const b of bases.slice(0, -1)) {
      expect((await stat(path.join(pdir, `${String(b).padStart(20, '0')}.log`))).size).toBeLessThanOrEqual(64 * 1024);
    }
    // A sealed segment has index entries.
    expect((await stat(path.join(pdir, `${String(bases[1]).padStart(20, '0')}.index`))).size).toBeGreaterThan(0);

    const reader = await LogReader.open(dir);
    const target = bases[2] + 37;
    const res = await reader.read(0, target, 5);
    expect(res.records.map((r) => r.offset)).toEqual([target, target + 1, target + 2, target + 3, target + 4]);
    expect(res.records.map((r) => (unpack(r.value) as { seq: number }).seq)).toEqual(
      [0, 1, 2, 3, 4].map((i) => target + i),
    );
    expect(res.nextOffset).toBe(target + 5);
    // Crossing from one segment into the next.
    const across = await reader.read(0, bases[3] - 2, 4);
    expect(across.records.map((r) => r.offset)).toEqual([bases[3] - 2, bases[3] - 1, bases[3], bases[3] + 1]);
    // Everything, in order, without gaps.
    const all = await readAll(reader, 0, 0, 101);
    expect(all.length).toBe(1000);
    expect(all.every((r, i) => r.offset === i && r.seq === i)).toBe(true);
    await reader.close();
  });

  it('retention deletes the oldest segments, never the active one, and startOffset moves', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 1, segmentBytes: 16 * 1024, retentionBytes: 40 * 1024 });
    let seq = 0;
    for (let b = 0; b < 60; b++) await log.append(Array.from({ length: 5 }, () => metricRecord(0, seq++, 400)));
    const bases = log.segmentBases(0);
    expect(bases[0]).toBeGreaterThan(0);
    expect(log.startOffset(0)).toBe(bases[0]);
    await log.close();

    const pdir = path.join(dir, 'partition-0');
    const names = await readdir(pdir);
    expect(names).not.toContain('00000000000000000000.log');
    let total = 0;
    for (const n of names.filter((x) => x.endsWith('.log'))) total += (await stat(path.join(pdir, n))).size;
    expect(total).toBeLessThanOrEqual(40 * 1024);

    const reader = await LogReader.open(dir);
    expect(await reader.startOffset(0)).toBe(bases[0]);
    expect(await reader.endOffset(0)).toBe(300);
    // Asking for a deleted offset says so and returns the earliest retained records.
    const res = await reader.read(0, 0, 3);
    expect(res.skipped).toBe(bases[0]);
    expect(res.records.map((r) => r.offset)).toEqual([bases[0], bases[0] + 1, bases[0] + 2]);
    await reader.close();

    // Reopening with a smaller retention applies it at open.
    const smaller = await PartitionedLog.open(dir, { partitions: 1, segmentBytes: 16 * 1024, retentionBytes: 1 });
    expect(smaller.segmentBases(0)).toEqual([bases[bases.length - 1]]);
    expect(smaller.nextOffset(0)).toBe(300);
    await smaller.close();
  });
});
