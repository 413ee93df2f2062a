/**
 * GatewayState's DISK_WORK word: the owner's watches bump it at the outermost begin and end
 * of their disk work (BEGAN says when), and a worker calls work that has run past its limit
 * stalled without the owner's help (the owner's thread may be the one the disk holds).
 */
import { describe, expect, it } from 'vitest';
import { createGatewayStateStorage, GatewayState, OWNER_HELD_MS } from '../../src/main/gateway-state.ts';
import { StallWatch } from '../../src/log/stall-watch.ts';

describe('GatewayState: disk work timed by the reader', () => {
  it('is odd exactly while some watch has work in flight, however the watches nest', () => {
    const storage = createGatewayStateStorage();
    const signal = new GatewayState(storage).diskWorkSignal();
    const a = new StallWatch(Infinity, () => {}, () => {}, signal);
    const b = new StallWatch(Infinity, () => {}, () => {}, signal);
    // A reader with a limit of 0 ms calls any work in flight stalled.
    const strict = new GatewayState(storage, 0);
    // What the reader's timer does a few times per limit, called here at each step.
    const look = () => strict.checkDiskWork();
    look();
    expect(strict.stalled).toBe(false);
    a.begin();
    a.begin(); // nested in the same watch
    b.begin(); // another watch: the spill beside its cursor, say
    look();
    expect(strict.stalled).toBe(true);
    a.end();
    a.end();
    look();
    expect(strict.stalled).toBe(true); // b still runs
    b.end();
    expect(strict.stalled).toBe(false); // at once, before the timer looks: the work changed
    look();
    expect(strict.stalled).toBe(false);
    b.end(); // an end without a begin changes nothing
    look();
    expect(strict.stalled).toBe(false);
    a.begin();
    expect(strict.stalled).toBe(false); // the next work: stalled only once a reader looked
    look();
    expect(strict.stalled).toBe(true);
    a.end();
  });

  it("a stall one reader found is every reader's at once, until that work ends", () => {
    const storage = createGatewayStateStorage();
    const signal = new GatewayState(storage).diskWorkSignal();
    // Two workers whose timers look at different moments: here, one with an hour's limit
    // never finds the stall itself.
    const first = new GatewayState(storage, 0);
    const other = new GatewayState(storage, 3_600_000);
    signal.begin();
    other.checkDiskWork();
    expect([first.stalled, other.stalled]).toEqual([false, false]);
    first.checkDiskWork();
    expect([first.stalled, other.stalled]).toEqual([true, true]);
    other.checkDiskWork();
    expect(other.stalled).toBe(true);
    signal.end();
    expect([first.stalled, other.stalled]).toEqual([false, false]);
    signal.begin(); // the next work is not the stalled one
    expect([first.stalled, other.stalled]).toEqual([false, false]);
    signal.end();
  });

  it('without a limit only the STALLED word counts (the owner thread reads it so)', () => {
    const storage = createGatewayStateStorage();
    const owner = new GatewayState(storage);
    const reader = new GatewayState(storage);
    owner.diskWorkSignal().begin();
    expect(reader.stalled).toBe(false);
    expect(reader.stalled).toBe(false);
    owner.stalled = true;
    expect(reader.stalled).toBe(true);
  });

  it("a stall that also stops the owner's tick is reported once among all readers, and again only for the next work", () => {
    const storage = createGatewayStateStorage();
    const owner = new GatewayState(storage);
    const signal = owner.diskWorkSignal();
    const reports: string[] = [];
    // Two workers with a limit of 0 ms: any work in flight is stalled.
    const readers = [1, 2].map((id) => new GatewayState(storage, 0, () => reports.push(`worker ${id}`)));
    const look = () => readers.forEach((r) => r.checkDiskWork());
    const spin = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until); // the owner's thread, held: no tick
    };
    owner.beat();
    signal.begin();
    look();
    expect(reports).toEqual([]); // stalled, but the owner ticked just now: it reports itself
    spin(OWNER_HELD_MS + 50);
    look();
    look();
    expect(reports).toEqual(['worker 1']);
    signal.end();
    owner.beat();
    signal.begin(); // the next work, while the owner ticks again
    look();
    expect(reports).toEqual(['worker 1']);
    spin(OWNER_HELD_MS + 50);
    look();
    expect(reports).toEqual(['worker 1', 'worker 1']);
    signal.end();
  });
});
