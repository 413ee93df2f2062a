/**
 * GatewayState's DISK_WORK word: the owner's watches bump it at the outermost begin and end
 * of their disk work, and a worker calls the work stalled when it sees the same odd value
 * for longer than its limit by its own clock (the owner's thread may be the one held).
 */
import { describe, expect, it } from 'vitest';
import { createGatewayStateStorage, GatewayState } from '../../src/main/gateway-state.ts';
import { StallWatch } from '../../src/log/stall-watch.ts';

describe('GatewayState: disk work timed by the reader', () => {
  it('is odd exactly while some watch has work in flight, however the watches nest', () => {
    const storage = createGatewayStateStorage();
    const owner = new GatewayState(storage);
    const signal = owner.diskWorkSignal();
    const a = new StallWatch(Infinity, () => {}, () => {}, signal);
    const b = new StallWatch(Infinity, () => {}, () => {}, signal);
    // A reader with a limit of 0 ms calls the work stalled on its second look at the same value.
    const reader = new GatewayState(storage, 0);
    expect(reader.stalled).toBe(false);
    a.begin();
    a.begin(); // nested in the same watch
    b.begin(); // another watch: the spill beside its cursor, say
    expect(reader.stalled).toBe(false); // first look at this work: the reader starts its clock
    expect(reader.stalled).toBe(true);
    a.end();
    a.end();
    expect(reader.stalled).toBe(true); // b still runs: the same value
    b.end();
    expect(reader.stalled).toBe(false);
    b.end(); // an end without a begin changes nothing
    a.begin();
    expect(reader.stalled).toBe(false); // new work, a new value: timed from now
    a.end();
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
});
