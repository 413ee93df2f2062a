/**
 * The record encoder writes what msgpackr and JSON.parse read back exactly: every msgpack
 * str size class (ASCII and not, from strings and from bytes), 16+ tags, numbers of every
 * kind, NaN/±Inf and the histogram object; a series' fields repeated on each of its samples
 * and none left by a series never sampled; JSON writes the non-finite values as strings.
 */
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { createRecordEncoder } from '../../src/records/record-encoder.ts';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

describe('record encoder', () => {
  const names = [1, 10, 11, 31, 32, 85, 86, 255, 256, 21845, 21846, 65535, 70000].flatMap((n) => ['a'.repeat(n), 'é'.repeat(n)]);
  const tags: string[] = [];
  for (let i = 0; i < 20; i++) tags.push(`k${i}`, 'v'.repeat(i * 3));
  const numbers = [0, -0, 1, 127, 128, 4294967295, 4294967296, -1, -2147483648, -2147483649, 1.5, 1_700_000_000_123.456, Number.MAX_SAFE_INTEGER, 1e300];

  it('msgpack round-trips through msgpackr', () => {
    const enc = createRecordEncoder('msgpack', 16);
    for (const name of names) enc.sample(enc.series(name, tags, { type: 'gauge', unit: 'u', help: 'h'.repeat(300) }), 1, 2);
    const bytes = Buffer.from(names.join('|'));
    const ranges = Int32Array.from([0, names[0]!.length]);
    enc.sample(enc.seriesFromBytes(bytes, ranges, 0), 3, 4);
    for (const v of numbers) enc.sample(enc.series('n', []), v, v);
    enc.sample(enc.series('s', [], { temporality: 'delta' }), NaN, Infinity, { schema: 1, counts: [1, 2], sum: -Infinity });
    const out = unpackr.unpack(enc.finish()) as { metrics: Record<string, unknown>[] };
    expect(out.metrics.length).toBe(enc.count);
    names.forEach((name, i) => expect(out.metrics[i]).toEqual({ name, value: 1, timestamp: 2, tags: Object.fromEntries(Array.from({ length: 20 }, (_, j) => [`k${j}`, 'v'.repeat(j * 3)])), type: 'gauge', unit: 'u', help: 'h'.repeat(300) }));
    expect(out.metrics[names.length]).toEqual({ name: 'a', value: 3, timestamp: 4, tags: {} });
    numbers.forEach((v, i) => {
      const m = out.metrics[names.length + 1 + i]!;
      expect(Object.is(m.value, v)).toBe(true);
      expect(Object.is(m.timestamp, v)).toBe(true);
    });
    const last = out.metrics.at(-1)!;
    expect(last).toMatchObject({ name: 's', temporality: 'delta', timestamp: Infinity, histogram: { schema: 1, counts: [1, 2], sum: -Infinity } });
    expect(Number.isNaN(last.value)).toBe(true);
  });

  it('msgpack: a series repeats its fields on each of its samples; one prepared but never sampled leaves no trace', () => {
    // The msgpack encoder writes a series' fields once, in place, as its first entry, and
    // copies them for later samples; an unused series is taken back by the next one or by finish().
    const long = 'x'.repeat(100); // fields past the short-copy loop
    const enc = createRecordEncoder('msgpack', 16);
    enc.series('unused_first', ['a', 'b']);
    const s1 = enc.series('s1', ['k', 'v'], { type: 'counter' });
    for (let i = 0; i < 3; i++) enc.sample(s1, i, 1000 + i);
    enc.series('unused_between', [long, long]);
    const s2 = enc.series(long, [long, long]);
    enc.sample(s2, 1, 2);
    enc.sample(s2, 3, 4, { schema: 0 });
    const bytes = Buffer.from('namek1v1');
    enc.sample(enc.seriesFromBytes(bytes, Int32Array.from([0, 4, 4, 6, 6, 8]), 1), 5, 6);
    enc.series('unused_last', []);
    const out = unpackr.unpack(enc.finish()) as { metrics: Record<string, unknown>[] };
    expect(out.metrics).toEqual([
      ...[0, 1, 2].map((i) => ({ name: 's1', tags: { k: 'v' }, type: 'counter', value: i, timestamp: 1000 + i })),
      { name: long, tags: { [long]: long }, value: 1, timestamp: 2 },
      { name: long, tags: { [long]: long }, value: 3, timestamp: 4, histogram: { schema: 0 } },
      { name: 'name', tags: { k1: 'v1' }, value: 5, timestamp: 6 },
    ]);
    expect(enc.count).toBe(6);
    const empty = createRecordEncoder('msgpack');
    empty.series('never', ['a', 'b']);
    expect(unpackr.unpack(empty.finish())).toEqual({ metrics: [] });
  });

  it('msgpack with reuseOutput writes the same records, through buffer growth and past the kept size', () => {
    // Each output is only valid until the next reuseOutput encoder: compare at once.
    for (const entries of [1, 50, 5, 20_000, 3]) {
      const build = (reuse: boolean) => {
        const enc = createRecordEncoder('msgpack', 64, reuse);
        for (let i = 0; i < entries; i++) enc.sample(enc.series(`m${i % 7}`, ['k', `v${i}`]), i, 1_700_000_000_000 + i);
        return Buffer.from(enc.finish()); // a copy, as the worker's ring write is
      };
      expect(build(true)).toEqual(build(false));
    }
  });

  it('JSON writes NaN and the infinities as strings, -0 as -0', () => {
    const enc = createRecordEncoder('json');
    enc.sample(enc.series('x', ['a', '"q"']), NaN, -0, { sum: Infinity });
    enc.sample(enc.series('y', []), -Infinity, 1.5);
    expect(JSON.parse(Buffer.from(enc.finish()).toString())).toEqual({
      metrics: [
        { name: 'x', tags: { a: '"q"' }, value: 'NaN', timestamp: -0, histogram: { sum: '+Inf' } },
        { name: 'y', tags: {}, value: '-Inf', timestamp: 1.5 },
      ],
    });
  });
});
