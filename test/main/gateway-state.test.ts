/**
 * GatewayState's DISK_WORK word: the owner's watches bump it at the outermost begin and end
 * of their disk work (BEGAN says when), and a worker calls work that has run past its limit
 * stalled without the owner's help (the owner's thread may be the one the disk holds).
 */
import { describe, expect, it } from 'vitest';
import { createGatewayStateStorage, GatewayState } from '../../src/main/gateway-state.ts';
import { StallWatch } from '../../src/log/stall-watch.ts';

describe('GatewayState: disk work timed by the reader', () => {
  it('is odd exactly while some watch has work in flight, however the watches nest', () => {
    const storage = createGatewayStateStorage();
    const signal = new GatewayState(storage).diskWorkSignal();
    const a = new StallWatch(Infinity, () => {}, () => {}, signal);
    const b = new StallWatch(Infinity, () => {}, () => {}, signal);
    // A reader with a limit of 0 ms calls any work in flight stalled; one with an hour, none.
    const strict = new GatewayState(storage, 0);
    const patient = new GatewayState(storage, 3_600_000);
    // What each reader's timer does a few times per limit, called here at each step.
    const look = () => {
      strict.checkDiskWork();
      patient.checkDiskWork();
    };
    look();
    expect(strict.stalled).toBe(false);
    a.begin();
    a.begin(); // nested in the same watch
    b.begin(); // another watch: the spill beside its cursor, say
    look();
    expect(strict.stalled).toBe(true);
    expect(patient.stalled).toBe(false);
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
    look();
    expect(strict.stalled).toBe(true);
    expect(patient.stalled).toBe(false);
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
