import { describe, expect, it } from 'vitest';
import { DURABLE_OK } from '../../src/ring/ring-descriptor.ts';
import { RingReader } from '../../src/ring/ring-reader.ts';
import { createRingStorage } from '../../src/ring/ring-storage.ts';
import { RingWriter } from '../../src/ring/ring-writer.ts';

function completeAll(reader: RingReader): void {
  reader.read(() => reader.complete(DURABLE_OK, 0, 0), 1 << 30);
  reader.publish();
}

// bench:commit-work and the owner's shutdown summary report these counts (issue 15: does
// the owner notify writers that are not asleep?); they must count what happened.
describe('RingReader notify counts', () => {
  it('counts no notify while no writer waits, and a notify plus a wake-up for a sleeping watcher', async () => {
    const storage = createRingStorage(1024, 4);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);

    // No callback: the writer never watches, so publishing notifies nobody.
    writer.tryWrite(1, Uint8Array.of(1));
    completeAll(reader);
    expect([reader.notifies, reader.wakeups]).toEqual([0, 0]);
    writer.poll();

    // A callback: the durable watcher sleeps in waitAsync; publishing wakes it.
    const durable = new Promise<number>((resolve) => writer.tryWrite(1, Uint8Array.of(2), (status) => resolve(status)));
    // Let the watcher reach its waitAsync.
    await new Promise((r) => setTimeout(r, 10));
    completeAll(reader);
    expect(await durable).toBe(DURABLE_OK);
    expect([reader.notifies, reader.wakeups]).toEqual([1, 1]);

    // The watcher ended with nothing in flight: no notify for the next publish.
    await new Promise((r) => setTimeout(r, 10));
    writer.tryWrite(1, Uint8Array.of(3));
    completeAll(reader);
    expect([reader.notifies, reader.wakeups]).toEqual([1, 1]);
  });
});
