/**
 * DroppedBuffers (src/workers/settle-heap.ts): when a worker collects the buffers of the
 * requests it answered. The GC itself is injected; what is pinned is when each kind runs.
 */
import { describe, expect, it } from 'vitest';
import { DROPPED_BYTES_PER_SCAVENGE, DroppedBuffers, REFUSED_BYTES_PER_FULL_GC, type Collection } from '../../src/workers/settle-heap.ts';

function setup(runs = true) {
  const asked: string[] = [];
  const counted: Collection[] = [];
  const dropped = new DroppedBuffers(
    (c) => counted.push(c),
    (type) => {
      asked.push(type);
      return runs;
    },
  );
  return { dropped, asked, counted };
}

describe('DroppedBuffers', () => {
  it('runs one scavenge per 16 MiB released, whatever the request sizes', () => {
    const { dropped, asked, counted } = setup();
    const body = 10_600; // a JSON body of 100 metrics
    const bodies = Math.ceil(DROPPED_BYTES_PER_SCAVENGE / body);
    for (let i = 0; i < bodies - 1; i++) dropped.dropped(body);
    expect(asked).toEqual([]);
    dropped.dropped(body);
    expect(asked).toEqual(['minor']);
    expect(counted).toEqual(['scavenge']);
    // The count starts again from zero: one more body does not collect again.
    dropped.dropped(body);
    expect(asked).toEqual(['minor']);
    dropped.dropped(DROPPED_BYTES_PER_SCAVENGE);
    expect(asked).toEqual(['minor', 'minor']);
  });

  it('never runs a full GC for requests that were answered normally', () => {
    const { dropped, asked } = setup();
    for (let i = 0; i < 100; i++) dropped.dropped(1 << 20);
    expect(asked.every((t) => t === 'minor')).toBe(true);
    expect(asked).toHaveLength(100 / 16 | 0);
  });

  it('runs a full GC per 16 MiB of refused bodies, which also restarts the scavenge count', () => {
    const { dropped, asked, counted } = setup();
    dropped.dropped(DROPPED_BYTES_PER_SCAVENGE - 1);
    const bomb = 1 << 20; // a zip bomb cut at --max-decoded-body 1 MiB
    for (let i = 0; i < REFUSED_BYTES_PER_FULL_GC / bomb - 1; i++) dropped.refused(bomb);
    expect(asked).toEqual([]);
    dropped.refused(bomb);
    expect(asked).toEqual(['major']);
    expect(counted).toEqual(['full']);
    // The young generation was collected by the full GC: its count starts from zero.
    dropped.dropped(1);
    expect(asked).toEqual(['major']);
  });

  it('counts only collections that ran (no gc extension, or it threw)', () => {
    const { dropped, asked, counted } = setup(false);
    dropped.dropped(DROPPED_BYTES_PER_SCAVENGE);
    dropped.refused(REFUSED_BYTES_PER_FULL_GC);
    expect(asked).toEqual(['minor', 'major']);
    expect(counted).toEqual([]);
  });
});
