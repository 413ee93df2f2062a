/**
 * The owner reuses the memory of drained records (src/records/payload-slabs.ts) only once
 * the sink is surely done with them. A record whose outcome is unknown may still be in
 * the sink's hands (kafkajs still sending after a deadline), so its bytes must stay as
 * they were however many records follow.
 */
import { describe, expect, it } from 'vitest';
import { Owner } from '../../src/main/owner.ts';
import { createDoorbellStorage, Doorbell } from '../../src/ring/doorbell.ts';
import { RingReader } from '../../src/ring/ring-reader.ts';
import { createRingStorage } from '../../src/ring/ring-storage.ts';
import { RingWriter } from '../../src/ring/ring-writer.ts';
import type { AppendResult, Sink, SinkRecord } from '../../src/sink/sink.ts';
import { publishRecords } from '../support/ring-records.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * Answers its first append "outcome unknown" and keeps that batch's records as given
 * (views, as a sink still sending them would); later appends succeed.
 */
class UnknownFirstSink implements Sink {
  readonly name = 'unknown-first';
  held: SinkRecord[] | undefined;
  appended = 0;
  async open(): Promise<void> {}
  isReady(): boolean {
    return true;
  }
  async append(batch: SinkRecord[]): Promise<AppendResult> {
    await new Promise((r) => setTimeout(r, 1));
    this.appended += batch.length;
    const offsets = new Float64Array(batch.length);
    if (this.held === undefined) {
      this.held = batch;
      return { offsets: offsets.fill(-1), unknown: new Uint8Array(batch.length).fill(1), error: 'deadline' };
    }
    return { offsets };
  }
  async close(): Promise<number> {
    return 0;
  }
}

/** Records from..from+n of 3,000 bytes each, keyed `client-${i}`. */
function write(writer: RingWriter, from: number, n: number): void {
  publishRecords(writer, n, (k) => ({ key: Buffer.from(`client-${from + k}`), value: Buffer.alloc(3000, (from + k) % 251) }));
}

describe('the owner and the memory of drained records', () => {
  it('never reuses the bytes of records whose outcome is unknown', async () => {
    const doorbellStorage = createDoorbellStorage();
    const sink = new UnknownFirstSink();
    const owner = new Owner(new Doorbell(doorbellStorage), sink, { idleTimeoutMs: 50 });
    const ring = createRingStorage(1 << 20);
    owner.addRing(new RingReader(ring));
    const done = owner.run();
    const writer = new RingWriter(ring, new Doorbell(doorbellStorage));
    write(writer, 0, 20);
    await waitFor('the first append', () => sink.held !== undefined, 5000);
    const held = sink.held!;
    const before = held.map((r) => Buffer.concat([r.key, r.value]));
    // Enough records after it, batch after batch, that freed memory is reused many times.
    for (let k = 0; k < 40; k++) {
      write(writer, 20 + k * 50, 50);
      await waitFor('the batch', () => sink.appended >= held.length + (k + 1) * 50, 5000);
    }
    held.forEach((r, i) => expect(Buffer.compare(Buffer.concat([r.key, r.value]), before[i]!)).toBe(0));
    expect(Buffer.from(held[0]!.key).toString()).toBe('client-0');
    owner.stop();
    await done;
  });
});
