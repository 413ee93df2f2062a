/**
 * Consumer groups on the local partition log, with real consumer CLI processes sharing a
 * data dir: partitions split without overlap or gap, a killed member's partitions move to
 * the survivors without skipping records, commits survive restarts, groups are
 * independent, the tail is followed, retention skips are reported.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LogSink } from '../../src/log/log-sink.ts';
import { createConsumer, groupLag } from '../../src/index.ts';
import type { ConsumedBatch, ConsumerEvent } from '../../src/index.ts';
import { GroupMember } from '../../src/consumer/log-group/group-member.ts';
import { readCommitted } from '../../src/consumer/log-group/offset-store.ts';
import { readCurrentGeneration } from '../../src/consumer/log-group/generations.ts';
import { groupPaths } from '../../src/consumer/log-group/group-paths.ts';
import { appendRound, ConsumerProcess, ids, openSink, removeDir, runConsumer, tempDir, waitFor } from './helpers.ts';
import type { Line } from './helpers.ts';

let dir: string;
let sink: LogSink | null = null;
const procs: ConsumerProcess[] = [];

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
  await sink?.close();
  sink = null;
  await removeDir(dir);
});

function member(group: string, ...extra: string[]): ConsumerProcess {
  const p = new ConsumerProcess(['--data-dir', dir, '--group', group, '--from-beginning', ...extra]);
  procs.push(p);
  return p;
}

/** Waits until every member reports the same generation and together they hold all partitions once. */
async function waitForStableSplit(members: ConsumerProcess[], partitions: number): Promise<number[][]> {
  let split: number[][] = [];
  await waitFor('a stable split of the partitions', () => {
    const gens = members.map((m) => m.generation());
    if (gens[0] === 0 || gens.some((g) => g !== gens[0])) return false;
    split = members.map((m) => m.assigned() ?? []);
    const all = split.flat().sort((a, b) => a - b);
    return all.length === partitions && all.every((p, i) => p === i);
  });
  return split;
}

function expectedIds(partitions: number, perPartition: number): string[] {
  const out: string[] = [];
  for (let p = 0; p < partitions; p++) for (let o = 0; o < perPartition; o++) out.push(`${p}:${o}`);
  return out.sort();
}

function partitionsOf(lines: Line[]): number[] {
  return [...new Set(lines.map((l) => l.partition))].sort((a, b) => a - b);
}

describe('log consumer groups (CLI processes)', () => {
  it('two members split 4 partitions round-robin (0,2 / 1,3), every record once', async () => {
    sink = await openSink(dir, 4);
    const a = member('storage-writer', '--session-timeout', '3s');
    const b = member('storage-writer', '--session-timeout', '3s');
    const split = await waitForStableSplit([a, b], 4);
    expect(split.map((s) => s.join(',')).sort()).toEqual(['0,2', '1,3']);

    await appendRound(sink, 4, 50, 0);
    await waitFor('200 records', () => a.lines.length + b.lines.length >= 200);
    const all = [...ids(a.lines), ...ids(b.lines)].sort();
    expect(all).toEqual(expectedIds(4, 50)); // no gap, no duplicate
    expect(partitionsOf(a.lines)).toEqual(split[0]);
    expect(partitionsOf(b.lines)).toEqual(split[1]);
  });

  it('three members split 6 partitions with no overlap and no gap', async () => {
    sink = await openSink(dir, 6);
    const ms = [0, 1, 2].map(() => member('g6', '--session-timeout', '3s'));
    const split = await waitForStableSplit(ms, 6);
    expect(split.map((s) => s.join(',')).sort()).toEqual(['0,3', '1,4', '2,5']);

    await appendRound(sink, 6, 30, 0);
    await waitFor('180 records', () => ms.reduce((n, m) => n + m.lines.length, 0) >= 180);
    expect(ms.flatMap((m) => ids(m.lines)).sort()).toEqual(expectedIds(6, 30));
    ms.forEach((m, i) => expect(partitionsOf(m.lines)).toEqual(split[i]));
  });

  it('a SIGKILLed member’s partitions move to the survivor; nothing is skipped, duplicates only from its last batch', async () => {
    sink = await openSink(dir, 4);
    const s = sink;
    const a = member('kill-test', '--session-timeout', '1s');
    const b = member('kill-test', '--session-timeout', '1s');
    const split = await waitForStableSplit([a, b], 4);
    const bParts = split[1];

    // A live stream: records keep arriving while B dies and A takes over.
    let perPartition = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await appendRound(s, 4, 100, perPartition * 4);
        perPartition += 100;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      await waitFor('B to consume some records', () => b.lines.length >= 500);
      b.kill('SIGKILL');
      const killedAt = Date.now();
      await b.exited;
      await waitFor('A to take over all partitions', () => (a.assigned() ?? []).length === 4, 15_000);
      console.log(`takeover after SIGKILL with a 1 s session: ${Date.now() - killedAt} ms`);
      await new Promise((r) => setTimeout(r, 200)); // a few more rounds after the takeover
    } finally {
      writing = false;
      await writer;
    }
    const total = perPartition * 4;
    await waitFor(`all ${total} records`, () => new Set([...ids(a.lines), ...ids(b.lines)]).size >= total);

    const seen = new Set([...ids(a.lines), ...ids(b.lines)]);
    expect([...seen].sort()).toEqual(expectedIds(4, perPartition)); // no record skipped
    for (const p of bParts) {
      const bOffsets = b.lines.filter((l) => l.partition === p).map((l) => l.offset);
      const aOffsets = a.lines.filter((l) => l.partition === p).map((l) => l.offset);
      // A resumed at B's last committed offset: the overlap is B's uncommitted tail, at
      // most the batch it was printing (500 records per batch).
      const dup = aOffsets.filter((o) => bOffsets.includes(o));
      expect(dup.length).toBeLessThanOrEqual(500);
      if (dup.length > 0) expect(Math.min(...dup)).toBeGreaterThan(Math.max(...bOffsets) - 500);
    }
    // A's own partitions were never read twice.
    for (const p of split[0]) {
      const offs = a.lines.filter((l) => l.partition === p).map((l) => l.offset);
      expect(new Set(offs).size).toBe(offs.length);
    }
  });

  it('committed offsets survive restarts: --max-records, restart, continue; --show-lag tells what is left', async () => {
    sink = await openSink(dir, 4);
    await appendRound(sink, 4, 25, 0);
    const args = ['--data-dir', dir, '--group', 'resume', '--from-beginning', '--exit-at-end'];
    const first = await runConsumer([...args, '--max-records', '30']);
    expect(first.code).toBe(0);
    expect(first.lines.length).toBe(30);

    const lag = await runConsumer(['--data-dir', dir, '--group', 'resume', '--show-lag']);
    expect(lag.code).toBe(0);
    expect(lag.stderr).toBe('');
    const lagLines = lag.lines as unknown as { partition: number; endOffset: number; committedOffset: number; lag: number }[];
    expect(lagLines.map((l) => l.endOffset)).toEqual([25, 25, 25, 25]);
    expect(lagLines.reduce((n, l) => n + l.lag, 0)).toBe(70);
    for (const l of lagLines) expect(l.lag).toBe(l.endOffset - l.committedOffset);

    const second = await runConsumer([...args, '--max-records', '30']);
    expect(second.lines.length).toBe(30);
    const rest = await runConsumer(args);
    expect(rest.code).toBe(0);
    expect(rest.lines.length).toBe(40);
    expect([...ids(first.lines), ...ids(second.lines), ...ids(rest.lines)].sort()).toEqual(expectedIds(4, 25));

    const again = await runConsumer(args);
    expect(again.lines).toEqual([]);
    expect((await groupLag({ mode: 'log', dataDir: dir, group: 'resume' })).map((l) => l.lag)).toEqual([0, 0, 0, 0]);
  });

  it('two groups read the same log independently', async () => {
    sink = await openSink(dir, 4);
    await appendRound(sink, 4, 20, 0);
    const args = (g: string) => ['--data-dir', dir, '--group', g, '--from-beginning', '--exit-at-end'];
    const [g1, g2] = await Promise.all([runConsumer(args('alerting')), runConsumer(args('storage-writer'))]);
    expect(ids(g1.lines).sort()).toEqual(expectedIds(4, 20));
    expect(ids(g2.lines).sort()).toEqual(expectedIds(4, 20));
    await appendRound(sink, 4, 5, 80);
    const g1Again = await runConsumer(args('alerting'));
    // Only what was appended since: alerting's commits are its own.
    expect(ids(g1Again.lines).sort()).toEqual(expectedIds(4, 25).filter((id) => Number(id.split(':')[1]) >= 20));
  });

  it('follows the tail: records appended after it started are printed', async () => {
    sink = await openSink(dir, 4);
    await appendRound(sink, 4, 2, 0);
    const c = member('tail', '--session-timeout', '3s');
    await waitFor('the first 8 records', () => c.lines.length >= 8);
    for (let round = 1; round <= 3; round++) {
      await appendRound(sink, 4, 3, 1000 * round);
      await waitFor(`round ${round}`, () => c.lines.length >= 8 + 12 * round);
    }
    expect(ids(c.lines).sort()).toEqual(expectedIds(4, 11));
    expect(c.lines.filter((l) => l.partition === 1).map((l) => l.value.seq)).toEqual([1, 5, 1001, 1005, 1009, 2001, 2005, 2009, 3001, 3005, 3009]);
  });

  it('retention removed what the group had not read: continues at the earliest offset and says so', async () => {
    // ~100-byte frames, 1 KiB segments, keep ~2 KiB: old segments go quickly.
    sink = await openSink(dir, 1, { segmentBytes: 1024, retentionBytes: 2048 });
    await appendRound(sink, 1, 5, 0);
    const args = ['--data-dir', dir, '--group', 'slow', '--from-beginning', '--exit-at-end'];
    const first = await runConsumer([...args, '--max-records', '3']);
    expect(first.lines.map((l) => l.offset)).toEqual([0, 1, 2]);
    for (let i = 0; i < 10; i++) await appendRound(sink, 1, 10, 100 + i * 10);
    const rest = await runConsumer(args);
    expect(rest.code).toBe(0);
    const earliest = rest.lines[0].offset;
    expect(earliest).toBeGreaterThan(3);
    expect(rest.stderr).toMatch(new RegExp(`partition 0: committed offset 3 was deleted by retention; continuing at the earliest offset ${earliest}`));
    expect(rest.lines.map((l) => l.offset)).toEqual(Array.from({ length: 105 - earliest }, (_, i) => earliest + i));
  });
});

describe('log consumer groups (library)', () => {
  it('a partition moves only after its previous owner finished its batch, and that owner’s stale commit is refused', async () => {
    sink = await openSink(dir, 2);
    await appendRound(sink, 2, 10, 0);
    const events: ConsumerEvent[] = [];
    let release: () => void = () => {};
    const blocked = new Promise<void>((r) => (release = r));
    let aHolding = false;
    const aBatches: ConsumedBatch[] = [];
    const a = createConsumer({ mode: 'log', dataDir: dir, group: 'lib', fromBeginning: true, sessionTimeoutMs: 3000, memberId: 'a', onEvent: (e) => events.push(e) });
    const aRun = a.run(async (batch) => {
      aBatches.push(batch);
      if (batch.partition === 1) {
        aHolding = true;
        await blocked; // still handling partition 1 when b joins
        aHolding = false;
      }
    });
    await waitFor('a to be handling partition 1', () => aHolding);

    const bBatches: ConsumedBatch[] = [];
    const b = createConsumer({ mode: 'log', dataDir: dir, group: 'lib', fromBeginning: true, sessionTimeoutMs: 3000, memberId: 'b' });
    const bRun = b.run(async (batch) => void bBatches.push(batch));
    // The new generation gives partition 1 to b ("b" sorts after "a": a 0, b 1), but a is
    // still in its batch: b must not start partition 1 yet.
    const paths = groupPaths(dir, 'lib');
    await waitFor('generation 2 with both members', async () => (await readCurrentGeneration(paths))?.members.length === 2);
    await new Promise((r) => setTimeout(r, 600)); // b looks again at least twice meanwhile
    expect(bBatches).toEqual([]);
    expect(aHolding).toBe(true);

    release();
    await waitFor('b to read partition 1', () => bBatches.some((x) => x.partition === 1));
    // a's commit of its batch came from a stale generation: refused, so b starts at 0.
    expect(events.some((e) => e.type === 'commit-refused' && e.partition === 1)).toBe(true);
    expect(bBatches.find((x) => x.partition === 1)!.records[0].offset).toBe(0);
    await a.stop();
    await b.stop();
    await aRun;
    await bRun;
    expect(await readCommitted(paths, 1)).toBe(10);
  });

  it('a batch whose commit meets a newer generation that still gives it the partition is committed under that one', async () => {
    sink = await openSink(dir, 4);
    await appendRound(sink, 4, 5, 0);
    let b: GroupMember | null = null;
    const handled: number[] = [];
    const a = createConsumer({ mode: 'log', dataDir: dir, group: 'regen', fromBeginning: true, sessionTimeoutMs: 3000, memberId: 'a' });
    await a.run(
      async (batch) => {
        handled.push(batch.partition);
        // While a handles partition 0, b joins: generation 2 gives a partitions 0 and 2. a's
        // commit then finds generation 2 on disk before a adopted it (refused as stale),
        // and must be made again under generation 2 rather than leave partition 0 uncommitted.
        if (batch.partition === 0 && b === null) {
          b = await GroupMember.join({ dataDir: dir, group: 'regen', partitions: 4, memberId: 'b', sessionTimeoutMs: 3000, onChange: () => {} });
        }
      },
      { exitAtEnd: true },
    );
    const paths = groupPaths(dir, 'regen');
    expect(await readCommitted(paths, 0)).toBe(5);
    expect(await readCommitted(paths, 2)).toBe(5);
    // Committed, not read again (a refused commit would rewind and deliver the batch twice).
    expect(handled.filter((p) => p === 0)).toHaveLength(1);
    await (b as GroupMember | null)?.leave();
  });

  it('a commit for a partition a newer generation moved away is refused', async () => {
    sink = await openSink(dir, 2);
    const m1 = await GroupMember.join({ dataDir: dir, group: 'fence', partitions: 2, memberId: 'm1', sessionTimeoutMs: 3000, onChange: () => {} });
    expect(m1.assigned()).toEqual([0, 1]);
    expect(await m1.commit(1, 5)).toEqual({ ok: true });
    const m2 = await GroupMember.join({ dataDir: dir, group: 'fence', partitions: 2, memberId: 'm2', sessionTimeoutMs: 3000, onChange: () => {} });
    expect(m2.generation!.generation).toBe(2);
    expect(m2.assigned()).toEqual([1]);
    const refused = await m1.commit(1, 9);
    expect(refused.ok).toBe(false);
    expect(await readCommitted(m1.paths, 1)).toBe(5);
    // m1 has now adopted generation 2, where partition 0 is still its own.
    expect(m1.generation!.generation).toBe(2);
    expect(await m1.commit(0, 3)).toEqual({ ok: true });
    expect(await m2.commit(1, 9)).toEqual({ ok: true });
    await m2.leave();
    await m1.leave();
  });
});
