/**
 * The commit journal (src/log/commit-journal.ts) on the power-cut layer
 * (test/tools/powercut_fs.py: at the cut, every byte not fdatasync'd is forgotten).
 *
 * Every append touches all four partitions, so each one is made durable by the journal's
 * fdatasync alone, never by a segment's own; the journal is 64 KiB, so it wraps and
 * checkpoints dozens of times (every ~13 appends); segments are 32 KiB, so they roll (every
 * ~50 appends). The segments are then synced only at checkpoints, at rolls and at close: a
 * checkpoint that moved past entries whose segments it did not sync loses records here. The cut comes at a seeded moment with one more append in flight, and every record
 * acknowledged before it must be back at its offset, byte for byte, after recovery.
 */
import { access, mkdtemp, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.ts';
import { journalPath } from '../../src/log/commit-journal.ts';
import { LogReader } from '../../src/log/log-reader.ts';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
import type { PartitionedLogOptions } from '../../src/log/partitioned-log.ts';
import { parseConfig } from '../../src/main/config.ts';
import { ContentType } from '../../src/sink/sink.ts';
import type { SinkRecord } from '../../src/sink/sink.ts';
import { mountPowerCut, usePowerCutFixture, type PowerCutMount } from '../support/powercut-fs.ts';
import { prng } from '../support/prng.ts';
import { resizeSmallDisk, useSmallDisk } from '../support/small-disk.ts';
import { tempDir } from './helpers.ts';

const fx = usePowerCutFixture();
/** A disk smaller than the default journal, for the journal that must not take all of it. */
const disk = useSmallDisk('4m');
/** Logs a test opened on the layer: closed before the fixture unmounts it, even when the test fails. */
const opened = new Set<PartitionedLog>();
afterEach(async () => {
  await fx.layer?.heal().catch(() => {});
  for (const log of opened) await closeQuietly(log);
});

/** Closes `log`, whose disk may be gone (after a cut every operation fails). */
async function closeQuietly(log: PartitionedLog): Promise<void> {
  opened.delete(log);
  await log.close().catch(() => {});
}

/** Opens the log of `dataDir` on the layer (see `opened`). */
async function openOnLayer(dataDir: string, options: PartitionedLogOptions): Promise<PartitionedLog> {
  const log = await PartitionedLog.open(dataDir, options);
  opened.add(log);
  return log;
}
const PARTITIONS = 4;
const OPTIONS = { partitions: PARTITIONS, segmentBytes: 32 * 1024, journalBytes: 64 * 1024 };

/** A batch of 4–12 records over every partition, values of 20–600 seeded random bytes. */
function batchOf(random: () => number, seq: number): SinkRecord[] {
  const n = PARTITIONS + Math.floor(random() * 9);
  const batch: SinkRecord[] = [];
  for (let i = 0; i < n; i++) {
    const value = new Uint8Array(20 + Math.floor(random() * 580));
    for (let k = 0; k < value.length; k++) value[k] = Math.floor(random() * 256);
    batch.push({
      partition: i < PARTITIONS ? i : Math.floor(random() * PARTITIONS),
      key: new TextEncoder().encode(`client-${seq}-${i}`),
      value,
      timestamp: 1_700_000_000_000 + seq,
      contentType: ContentType.msgpack, // the log stores the bytes as they are
    });
  }
  return batch;
}

/** Every record of every partition of the log in `dataDir`, by "partition/offset". */
async function readAll(dataDir: string): Promise<Map<string, Uint8Array>> {
  const reader = await LogReader.open(dataDir);
  const out = new Map<string, Uint8Array>();
  try {
    for (let p = 0; p < PARTITIONS; p++) {
      let next = await reader.startOffset(p);
      for (;;) {
        const res = await reader.read(p, next, 1000);
        expect(res.damaged, `partition ${p}: damaged ranges`).toEqual([]);
        if (res.records.length === 0) break;
        for (const r of res.records) out.set(`${p}/${r.offset}`, Buffer.from(r.value));
        next = res.nextOffset;
      }
    }
  } finally {
    await reader.close();
  }
  return out;
}

/** Mounts a fresh power-cut layer and opens a log on it, in its `data` dir. */
async function logOnFreshLayer(options: PartitionedLogOptions): Promise<{ log: PartitionedLog; layer: PowerCutMount }> {
  fx.dir = await tempDir('metricstream-journal-');
  const layer = (fx.layer = await mountPowerCut(fx.dir, 0));
  return { log: await openOnLayer(path.join(layer.mount, 'data'), options), layer };
}

/**
 * Cuts the power under `log` (an append may be in flight: it fails), closes the log and
 * unmounts the layer. Returns the backing data dir, which now holds what survived.
 */
async function cutPower(log: PartitionedLog): Promise<string> {
  await fx.layer!.cut();
  await closeQuietly(log);
  await fx.layer!.unmount();
  fx.layer = undefined;
  return path.join(fx.dir!, 'backing', 'data');
}

/** Recovers the log of `backing` (an open and a close), then reads every record back. */
async function recoverAndReadAll(backing: string): Promise<Map<string, Uint8Array>> {
  await (await PartitionedLog.open(backing, OPTIONS)).close();
  return readAll(backing);
}

/** The acknowledged records ("partition/offset") that `stored` lacks or holds different. */
function missingFrom(acked: Map<string, Uint8Array>, stored: Map<string, Uint8Array>): string[] {
  return [...acked].filter(([at, value]) => !Buffer.from(value).equals(stored.get(at) ?? Buffer.alloc(0))).map(([at]) => at);
}

/** Appends seeded batches of all partitions to `log`, each acknowledged record kept in `acked`. */
function appender(log: PartitionedLog, random: () => number, acked: Map<string, Uint8Array>): () => ReturnType<PartitionedLog['append']> {
  let seq = 0;
  return async () => {
    const batch = batchOf(random, seq++);
    const res = await log.append(batch);
    batch.forEach((r, i) => {
      if (res.offsets[i] >= 0) acked.set(`${r.partition}/${res.offsets[i]}`, r.value);
    });
    return res;
  };
}

describe('commit journal, power cut (every commit durable through the journal alone)', () => {
  it.each([
    { seed: 1, reopenJournal: 64 * 1024 },
    { seed: 2, reopenJournal: 64 * 1024 },
    { seed: 3, reopenJournal: 0 },
  ])('seed $seed: every acknowledged record survives a cut with an append in flight (reopened with journalBytes $reopenJournal)', async ({ seed, reopenJournal }) => {
    const random = prng(seed);
    const { log } = await logOnFreshLayer(OPTIONS);
    const acked = new Map<string, Uint8Array>();
    let journaledBytes = 0;
    const record = (batch: SinkRecord[], offsets: Float64Array) => {
      batch.forEach((r, i) => {
        if (offsets[i] >= 0) acked.set(`${r.partition}/${offsets[i]}`, r.value);
      });
    };
    const appends = 150 + Math.floor(random() * 150);
    for (let seq = 0; seq < appends; seq++) {
      const batch = batchOf(random, seq);
      const res = await log.append(batch);
      expect(res.error).toBeUndefined();
      record(batch, res.offsets);
      journaledBytes += batch.reduce((sum, r) => sum + r.value.length, 0);
    }
    // One more append in flight when the power goes.
    const last = batchOf(random, appends);
    const inFlight = log.append(last);
    const backing = await cutPower(log);
    record(last, (await inFlight).offsets);

    // Recovery on what survived.
    const reopened = await PartitionedLog.open(backing, { ...OPTIONS, journalBytes: reopenJournal });
    const replayed = reopened.journalReplay;
    const next = Array.from({ length: PARTITIONS }, (_, p) => reopened.nextOffset(p));
    await reopened.close();
    const missing = missingFrom(acked, await readAll(backing));
    expect(missing, `${missing.length} of ${acked.size} acknowledged records missing or different, e.g. ${missing.slice(0, 5).join(', ')}`).toEqual([]);
    // The journal wrapped several times, and the reopened log continues after every record.
    expect(journaledBytes).toBeGreaterThan(4 * OPTIONS.journalBytes);
    for (const at of acked.keys()) {
      const [p, offset] = at.split('/').map(Number);
      expect(next[p]).toBeGreaterThan(offset);
    }
    // With no journal configured, it was replayed and then removed.
    if (reopenJournal === 0) await expect(access(journalPath(backing))).rejects.toThrow();
    console.log(`journal seed ${seed}: ${acked.size} records acknowledged in ${appends} appends (${journaledBytes} value bytes through a 64 KiB journal), all back; replay wrote ${replayed.records} records of ${replayed.entries} commits`);
  });

  it('a failed journal write fails the whole commit, and every commit until its entry is erased; its records never show up', async () => {
    const { log, layer } = await logOnFreshLayer(OPTIONS);
    const random = prng(9);
    const first = batchOf(random, 0);
    expect((await log.append(first)).error).toBeUndefined();

    await layer.fail('write', '/journal', 'EIO');
    const refused = batchOf(random, 1);
    const res = await log.append(refused);
    expect([...res.offsets].every((o) => o === -1)).toBe(true);
    expect(res.error).toMatch(/journal: .*EIO/);
    expect(log.failing).toBe(true);
    // Until the failed entry is erased, not even a commit of one partition (which would not
    // write to the journal) goes through: a replay of that entry would overwrite it.
    const alone = batchOf(random, 3).filter((r) => r.partition === 0);
    const aloneRes = await log.append(alone);
    expect([...aloneRes.offsets].every((o) => o === -1)).toBe(true);
    expect(aloneRes.error).toMatch(/journal: .*EIO/);
    await layer.heal();

    // The next commit takes the same offsets, and the log is healthy again.
    const second = batchOf(random, 2);
    const ok = await log.append(second);
    expect(ok.error).toBeUndefined();
    expect(log.failing).toBe(false);
    const stored = await recoverAndReadAll(await cutPower(log));
    const want = new Map<string, Uint8Array>();
    second.forEach((r, i) => want.set(`${r.partition}/${ok.offsets[i]}`, r.value));
    expect(missingFrom(want, stored), 'acknowledged records missing or different').toEqual([]);
    const refusedValues = [...refused, ...alone].map((r) => Buffer.from(r.value));
    for (const value of stored.values()) expect(refusedValues.some((v) => v.equals(Buffer.from(value)))).toBe(false);
    expect(stored.size).toBe(first.length + second.length);
  });
});

describe('commit journal, an fdatasync that failed but reached the disk', () => {
  it('the refused entry is erased before the next commit: a replay neither brings its records back nor writes them over the records that took their offsets', async () => {
    // The journal's fdatasync makes the entry durable and then reports EIO: the commit is
    // refused (503) though its entry would replay. The next commits, of one partition each
    // (not journaled, so no later entry overwrites that one), take the refused records'
    // offsets; had the entry not been erased first, recovery would write the refused
    // frames back over them.
    const { log, layer } = await logOnFreshLayer(OPTIONS);
    const random = prng(31);
    const first = batchOf(random, 0);
    const firstRes = await log.append(first);
    expect(firstRes.error).toBeUndefined();

    await layer.fail('fsync-persisted', '/journal', 'EIO');
    const refused = batchOf(random, 1);
    const res = await log.append(refused);
    expect([...res.offsets].every((o) => o === -1)).toBe(true);
    expect(res.error).toMatch(/journal: .*EIO/);
    await layer.heal();

    const alone = batchOf(random, 2).filter((r) => r.partition === 0);
    const aloneRes = await log.append(alone);
    expect(aloneRes.error).toBeUndefined();
    // It took the offsets the refused commit had in partition 0.
    const firstInP0 = first.flatMap((r, i) => (r.partition === 0 ? [firstRes.offsets[i]] : []));
    expect(aloneRes.offsets[0]).toBe(Math.max(...firstInP0) + 1);
    const second = batchOf(random, 3).filter((r) => r.partition === 1);
    const secondRes = await log.append(second);
    expect(secondRes.error).toBeUndefined();
    const stored = await recoverAndReadAll(await cutPower(log));
    const want = new Map<string, Uint8Array>();
    for (const [batch, r] of [[first, firstRes], [alone, aloneRes], [second, secondRes]] as const) {
      batch.forEach((rec, i) => want.set(`${rec.partition}/${r.offsets[i]}`, rec.value));
    }
    expect(missingFrom(want, stored), 'acknowledged records missing or different').toEqual([]);
    const refusedValues = refused.map((r) => Buffer.from(r.value));
    for (const value of stored.values()) expect(refusedValues.some((v) => v.equals(Buffer.from(value)))).toBe(false);
    expect(stored.size).toBe(want.size);
  });
});

describe('commit journal, segments that cannot be synced', () => {
  it('a checkpoint that fails is reported (kind journal) and retried; once the journal is full commits fail; after healing nothing acknowledged is lost', async () => {
    const problems: string[] = [];
    const { log, layer } = await logOnFreshLayer({
      ...OPTIONS,
      onProblem: (kind, _p, err) => problems.push(`${kind}:${err === null ? 'ok' : ((err as NodeJS.ErrnoException).code ?? err.message)}`),
    });
    const random = prng(11);
    const acked = new Map<string, Uint8Array>();
    const append = appender(log, random, acked);
    for (let i = 0; i < 10; i++) expect((await append()).error).toBeUndefined();

    // The segments' fdatasyncs fail; their writes and the journal's work.
    await layer.fail('fsync', '.log', 'EIO');
    let refused: Awaited<ReturnType<typeof append>> | null = null;
    for (let i = 0; i < 200 && refused === null; i++) {
      const res = await append();
      if (res.error !== undefined) refused = res;
    }
    expect(problems).toContain('journal:EIO');
    // Full: the commit that needed room waited for a checkpoint, which failed.
    expect(refused?.error).toMatch(/journal: .*EIO/);
    expect([...refused!.offsets].every((o) => o === -1)).toBe(true);

    await layer.heal();
    expect((await append()).error).toBeUndefined();
    expect(problems.slice(problems.indexOf('journal:EIO'))).toContain('journal:ok');
    expect(log.failing).toBe(false);
    for (let i = 0; i < 10; i++) expect((await append()).error).toBeUndefined();
    const missing = missingFrom(acked, await recoverAndReadAll(await cutPower(log)));
    expect(missing, `${missing.length} of ${acked.size} acknowledged records missing`).toEqual([]);
  });
});

describe('commit journal, rolls', () => {
  it('a roll with no written-ahead zeros to cut still syncs the segment it seals: its journaled tail survives the checkpoints after it', async () => {
    // A full disk pauses writing ahead for the next 1,000 partition commits, so no zeros lie
    // past the records and a roll has nothing to cut. Only the roll's own fdatasync then
    // makes the sealed segment's tail (staged unsynced, durable through the journal alone)
    // durable before a later checkpoint moves the journal's start past those entries:
    // checkpoints sync the active segments, not sealed ones. With zeros ahead (the usual
    // case), cutting them syncs as well, which hid a missing roll sync from the seeded
    // power-cut test above two runs in three.
    const { log, layer } = await logOnFreshLayer(OPTIONS);
    const random = prng(21);
    const acked = new Map<string, Uint8Array>();
    const append = appender(log, random, acked);
    expect((await append()).error).toBeUndefined();
    await layer.fail('write', '.log', 'ENOSPC');
    expect((await append()).error).toMatch(/ENOSPC/);
    await layer.heal();

    // 150 commits of all four partitions: some 3 rolls per partition, a checkpoint every
    // dozen commits, and still under 1,000 partition commits (writing ahead stays paused).
    for (let i = 0; i < 150; i++) expect((await append()).error).toBeUndefined();
    for (let p = 0; p < PARTITIONS; p++) expect(log.segmentBases(p).length, `partition ${p}: segments`).toBeGreaterThanOrEqual(3);
    const missing = missingFrom(acked, await recoverAndReadAll(await cutPower(log)));
    expect(missing, `${missing.length} of ${acked.size} acknowledged records missing, e.g. ${missing.slice(0, 5).join(', ')}`).toEqual([]);
  });
});

describe('--journal-bytes', () => {
  it('takes 0 (no journal) or a size from 64kb, and refuses less with a message naming the flag', () => {
    expect(parseConfig(['--journal-bytes', '0'])!.journalBytes).toBe(0);
    expect(parseConfig(['--journal-bytes', '64kb'])!.journalBytes).toBe(64 * 1024);
    expect(parseConfig([])!.journalBytes).toBeUndefined();
    expect(() => parseConfig(['--journal-bytes', '16kb'])).toThrow(UsageError);
    expect(() => parseConfig(['--journal-bytes', '16kb'])).toThrow(/--journal-bytes must be 0 \(no journal\) or from 64kb to 1gb/);
  });
});

describe('commit journal on a disk with little room', () => {
  it('grows only into room the disk can spare, then wraps inside its file: no commit refused, and every acknowledged record survives a cut', async () => {
    // The layer's backing dir on the 4 MiB disk (its record of what was synced stays on the
    // big one: it keeps deleted segments until their directory is synced, which a disk does
    // not); the default journal may grow to 16 MiB. It once grew into every byte the
    // segments freed, until they had no room left to roll into and every commit was refused
    // for good.
    fx.dir = await tempDir('metricstream-journal-');
    await symlink(await mkdtemp(path.join(disk.dir, 'backing-')), path.join(fx.dir, 'backing'));
    const layer = (fx.layer = await mountPowerCut(fx.dir, 0));
    const dataDir = path.join(layer.mount, 'data');
    const options = { partitions: PARTITIONS, segmentBytes: 32 * 1024, retentionBytes: 128 * 1024 };
    const log = await openOnLayer(dataDir, options);
    const acked = new Map<string, Uint8Array>();
    const append = appender(log, prng(11), acked);
    for (let i = 0; i < 2500; i++) expect((await append()).error, `append ${i}`).toBeUndefined();
    const journalBytes = (await stat(journalPath(dataDir))).size;
    const valueBytes = [...acked.values()].reduce((sum, v) => sum + v.length, 0);
    expect(journalBytes, 'the journal stopped growing short of the disk').toBeLessThan(3 * 1024 * 1024);
    expect(valueBytes, 'and wrapped inside its file, more than once').toBeGreaterThan(2 * journalBytes);

    // The cut brings back every file whose deletion no directory sync made durable (the
    // segments retention deleted): room for them on the disk, as a bigger one would have.
    resizeSmallDisk(disk, '64m');
    const inFlight = append();
    const backing = await cutPower(log);
    await inFlight;
    await (await PartitionedLog.open(backing, options)).close();
    // Retention deleted the oldest segments: every acknowledged record from each partition's
    // first retained offset on must be back.
    const reader = await LogReader.open(backing);
    const starts = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => reader.startOffset(p)));
    await reader.close();
    const retained = new Map([...acked].filter(([at]) => {
      const [p, offset] = at.split('/').map(Number);
      return offset >= starts[p];
    }));
    const missing = missingFrom(retained, await readAll(backing));
    expect(retained.size).toBeGreaterThan(1000);
    expect(missing, `${missing.length} of ${retained.size} retained acknowledged records missing or different, e.g. ${missing.slice(0, 5).join(', ')}`).toEqual([]);
    console.log(`journal on a 4 MiB disk: ${journalBytes} bytes (of 16 MiB), ${valueBytes} value bytes through it in ${acked.size} records; ${retained.size} retained, all back after the cut`);
  });
});
