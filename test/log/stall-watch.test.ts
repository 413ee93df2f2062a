/**
 * StallWatch: disk work marked begun and ended is reported once when it waits past the
 * limit, and its end reported after; nested work counts from the outermost begin.
 */
import { describe, expect, it } from 'vitest';
import { StallWatch } from '../../src/log/stall-watch.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function watched(limitMs: number): { watch: StallWatch; events: string[] } {
  const events: string[] = [];
  const watch = new StallWatch(limitMs, (waited) => events.push(waited >= limitMs ? 'stall' : `early ${waited}`), () => events.push('recover'));
  return { watch, events };
}

describe('StallWatch', () => {
  it('reports work past the limit once, and its end', async () => {
    const { watch, events } = watched(40);
    watch.begin();
    await sleep(200);
    expect(watch.stalled).toBe(true);
    expect(events).toEqual(['stall']);
    watch.end();
    expect(watch.stalled).toBe(false);
    expect(events).toEqual(['stall', 'recover']);
    watch.close();
  });

  it('reports nothing for work that ends in time, or when nothing is in flight', async () => {
    const { watch, events } = watched(100);
    watch.begin();
    watch.end();
    await sleep(300);
    expect(events).toEqual([]);
    expect(watch.stalled).toBe(false);
    watch.close();
  });

  it('nested work: stalled from the outermost begin until the outermost end', async () => {
    const { watch, events } = watched(40);
    watch.begin();
    watch.begin();
    watch.end();
    await sleep(200);
    expect(events).toEqual(['stall']);
    watch.end();
    expect(events).toEqual(['stall', 'recover']);
    watch.close();
  });

  it('work that held this thread past the limit (its timer never ran) is reported when it ends: stall, then recover', () => {
    const { watch, events } = watched(40);
    watch.begin();
    const until = performance.now() + 60;
    while (performance.now() < until); // a write() the disk holds: no timer runs meanwhile
    expect(events).toEqual([]);
    watch.end();
    expect(events).toEqual(['stall', 'recover']);
    expect(watch.stalled).toBe(false);
    watch.close();
  });

  it('a limit of Infinity watches nothing; 0 or less is refused', async () => {
    const { watch, events } = watched(Infinity);
    watch.begin();
    await sleep(50);
    expect(watch.stalled).toBe(false);
    watch.end();
    expect(events).toEqual([]);
    expect(() => new StallWatch(0, () => {}, () => {})).toThrow(RangeError);
  });
});
