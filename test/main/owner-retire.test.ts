/**
 * A dead worker's ring: the owner keeps draining and committing what the worker
 * published, then forgets the ring. Nothing in it is lost, and the owner reads only the
 * live rings afterwards (no leak per crash).
 */
import { describe, expect, it } from 'vitest';
import { Owner } from '../../src/main/owner.ts';
import { createDoorbellStorage, Doorbell } from '../../src/ring/doorbell.ts';
import { RingReader } from '../../src/ring/ring-reader.ts';
import { createRingStorage } from '../../src/ring/ring-storage.ts';
import { RingWriter } from '../../src/ring/ring-writer.ts';
import type { AppendResult, Sink, SinkRecord } from '../../src/sink/sink.ts';
import { publishRecords } from '../support/ring-records.ts';

/** A sink that stores in memory, each append taking a few ms like a real commit. */
class MemorySink implements Sink {
  readonly name = 'memory';
  readonly records: SinkRecord[] = [];
  async open(): Promise<void> {}
  isReady(): boolean {
    return true;
  }
  async append(batch: SinkRecord[]): Promise<AppendResult> {
    await new Promise((r) => setTimeout(r, 5));
    const offsets = new Float64Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      offsets[i] = this.records.length;
      // Copies: the owner reuses the bytes once append resolved (Sink.append).
      this.records.push({ ...batch[i], key: Buffer.from(batch[i].key), value: Buffer.from(batch[i].value) });
    }
    return { offsets };
  }
  async close(): Promise<number> {
    return 0;
  }
}

/** n records keyed `${tag}-${i}`, the way a worker publishes them. */
function write(writer: RingWriter, n: number, tag: string): void {
  publishRecords(writer, n, (i) => ({ key: Buffer.from(`${tag}-${i}`), value: Buffer.from(`value-${i}`) }));
}

describe('Owner.retireRing', () => {
  it('commits every record the dead writer published, then stops reading its ring', async () => {
    const doorbellStorage = createDoorbellStorage();
    const sink = new MemorySink();
    const owner = new Owner(new Doorbell(doorbellStorage), sink, { idleTimeoutMs: 50, readLimit: 16 });
    const live = createRingStorage(64 * 1024);
    const dead = createRingStorage(64 * 1024);
    owner.addRing(new RingReader(live));
    const deadReader = new RingReader(dead);
    owner.addRing(deadReader);
    const done = owner.run();
    // The "worker" writes 300 records and dies without anyone reading them yet: with a
    // read limit of 16 per pass they take many passes and commits to drain.
    write(new RingWriter(dead, new Doorbell(doorbellStorage)), 300, 'dead');
    expect(owner.ringCount).toBe(2);
    await owner.retireRing(deadReader);
    expect(owner.ringCount).toBe(1);
    expect(sink.records.filter((r) => Buffer.from(r.key).toString().startsWith('dead-'))).toHaveLength(300);
    // The live ring is still read.
    write(new RingWriter(live, new Doorbell(doorbellStorage)), 5, 'live');
    await new Promise((r) => setTimeout(r, 100));
    expect(sink.records.filter((r) => Buffer.from(r.key).toString().startsWith('live-'))).toHaveLength(5);
    owner.stop();
    await done;
  });
});
