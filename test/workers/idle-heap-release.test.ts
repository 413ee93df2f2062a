/**
 * When an HTTP worker gives its heap back (src/workers/settle-heap.ts): once per quiet
 * spell after serving, never while requests keep coming, never before the first request
 * (the start-up settle did it), on a clock of the test's own.
 */
import { describe, expect, it } from 'vitest';
import { IdleHeapRelease } from '../../src/workers/settle-heap.ts';

const QUIET = 10_000;
const T0 = 1_000_000;

describe('IdleHeapRelease', () => {
  it('a worker that has served nothing since it started never releases', () => {
    const r = new IdleHeapRelease(QUIET, T0);
    for (let t = T0; t <= T0 + 10 * QUIET; t += 1000) expect(r.due(0, t)).toBe(false);
  });

  it('releases once the count has not moved for the quiet period, and only once for that spell', () => {
    const r = new IdleHeapRelease(QUIET, T0);
    expect(r.due(5, T0 + 1000)).toBe(false); // served: the spell starts now
    expect(r.due(5, T0 + 1000 + QUIET - 1)).toBe(false);
    expect(r.due(5, T0 + 1000 + QUIET)).toBe(true);
    expect(r.due(5, T0 + 1000 + QUIET + 1000)).toBe(false);
    expect(r.due(5, T0 + 1000 + 10 * QUIET)).toBe(false);
  });

  it('never while requests keep coming, however long', () => {
    const r = new IdleHeapRelease(QUIET, T0);
    for (let i = 1; i <= 100; i++) expect(r.due(i, T0 + i * 1000)).toBe(false);
  });

  it('a new quiet spell after new requests releases again', () => {
    const r = new IdleHeapRelease(QUIET, T0);
    r.due(1, T0);
    expect(r.due(1, T0 + QUIET)).toBe(true);
    expect(r.due(2, T0 + QUIET + 1000)).toBe(false);
    expect(r.due(2, T0 + 2 * QUIET)).toBe(false); // 9 s after the last request
    expect(r.due(2, T0 + 2 * QUIET + 1000)).toBe(true);
  });

  it('the spell counts from the tick that saw the count move, not from the start', () => {
    const r = new IdleHeapRelease(QUIET, T0);
    expect(r.due(3, T0 + 5 * QUIET)).toBe(false);
    expect(r.due(3, T0 + 6 * QUIET - 1)).toBe(false);
    expect(r.due(3, T0 + 6 * QUIET)).toBe(true);
  });
});
