import { describe, expect, it } from 'vitest';
import { DURABLE_OK, SENT_UNACKNOWLEDGED } from '../../src/ring/ring-descriptor.ts';
import { RingReader } from '../../src/ring/ring-reader.ts';
import { createRingStorage } from '../../src/ring/ring-storage.ts';
import { RingWriter } from '../../src/ring/ring-writer.ts';

/** Reads everything and completes each record with offset = its first payload byte. */
function drainAndComplete(reader: RingReader, status = DURABLE_OK): number {
  const n = reader.read((_type, bytes, index) => reader.complete(status, 7, bytes[index]), 1 << 30);
  reader.publish();
  return n;
}

// RingWriter.poll() jumps over completions when no callback is pending (acks=0 writers
// would otherwise visit one slot per record); these pin that the jump never skips or
// misroutes a callback.
describe('durable cursor with records that have no callback', () => {
  it('runs only the registered callbacks, each with its own record', () => {
    const storage = createRingStorage(1024, 4);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    const got: number[][] = [];
    writer.tryWrite(1, Uint8Array.of(10), (s, p, o) => got.push([s, p, o]));
    writer.tryWrite(1, Uint8Array.of(11));
    writer.tryWrite(1, Uint8Array.of(12), (s, p, o) => got.push([s, p, o]));
    writer.tryWrite(1, Uint8Array.of(13));
    expect(drainAndComplete(reader)).toBe(4);
    expect(writer.poll()).toBe(4);
    expect(got).toEqual([
      [DURABLE_OK, 7, 10],
      [DURABLE_OK, 7, 12],
    ]);
    expect(writer.inFlight).toBe(0);

    // Slots reused by records without callbacks, then with one again.
    for (let i = 20; i < 24; i++) writer.tryWrite(1, Uint8Array.of(i));
    drainAndComplete(reader);
    expect(writer.poll()).toBe(4);
    writer.tryWrite(1, Uint8Array.of(30), (s, p, o) => got.push([s, p, o]));
    drainAndComplete(reader, SENT_UNACKNOWLEDGED);
    expect(writer.poll()).toBe(1);
    expect(got[2]).toEqual([SENT_UNACKNOWLEDGED, 7, 30]);
    expect(got).toHaveLength(3);
  });

  it('an acks=0 writer recycles its completion slots lap after lap', () => {
    const storage = createRingStorage(1024, 4);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    for (let lap = 0; lap < 100; lap++) {
      for (let i = 0; i < 4; i++) expect(writer.tryWrite(1, Uint8Array.of(i))).toBe(true);
      // Four records await completion: the fifth is refused until the owner publishes.
      expect(writer.tryWrite(1, Uint8Array.of(4))).toBe(false);
      expect(drainAndComplete(reader, SENT_UNACKNOWLEDGED)).toBe(4);
    }
    expect(writer.poll()).toBe(4);
    expect(writer.inFlight).toBe(0);
  });

  it('a callback registered while earlier records without one are still pending runs once, last', () => {
    const storage = createRingStorage(1024, 8);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    for (let i = 0; i < 3; i++) writer.tryWrite(1, Uint8Array.of(i));
    drainAndComplete(reader);
    let calls = 0;
    let offset = -1;
    writer.tryWrite(1, Uint8Array.of(3), (_s, _p, o) => {
      calls++;
      offset = o;
    });
    // The first three are durable (commit's watcher may already have polled them), the
    // fourth is not read yet: nothing to call.
    writer.poll();
    expect(writer.inFlight).toBe(1);
    expect(calls).toBe(0);
    drainAndComplete(reader);
    expect(writer.poll()).toBe(1);
    expect(writer.poll()).toBe(0);
    expect([calls, offset]).toEqual([1, 3]);
  });
});
