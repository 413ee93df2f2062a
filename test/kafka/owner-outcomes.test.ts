/**
 * The owner turns what a sink says about each record into the ring outcome the worker
 * answers from: offset -1 with `unknown` is DURABLE_UNKNOWN (504, may be stored), with
 * `refused` DURABLE_REFUSED (413), otherwise DURABLE_FAILED (503, not stored). And the
 * last resort of a bounded shutdown: an append that never resolves is completed as
 * outcome unknown by abandon(), so no request waits for it.
 */
import { describe, expect, it } from 'vitest';
import { Owner } from '../../src/main/owner.ts';
import { payloadLength, writePayload } from '../../src/records/ring-payload.ts';
import { createDoorbellStorage, Doorbell } from '../../src/ring/doorbell.ts';
import {
  DURABLE_FAILED,
  DURABLE_OK,
  DURABLE_REFUSED,
  DURABLE_SPILLED,
  DURABLE_UNKNOWN,
} from '../../src/ring/ring-descriptor.ts';
import { RingReader } from '../../src/ring/ring-reader.ts';
import { createRingStorage } from '../../src/ring/ring-storage.ts';
import { RingWriter } from '../../src/ring/ring-writer.ts';
import { ContentType, type AppendResult, type Sink, type SinkRecord } from '../../src/sink/sink.ts';

/** A sink whose append answers with `answer(batch)` (or never, when it returns undefined). */
function fakeSink(answer: (batch: SinkRecord[]) => AppendResult | undefined): Sink {
  return {
    name: 'fake',
    open: async () => {},
    isReady: () => true,
    append: (batch) => {
      const r = answer(batch);
      return r === undefined ? new Promise<AppendResult>(() => {}) : Promise.resolve(r);
    },
    close: async () => 0,
  };
}

/**
 * An owner over one ring, not yet running (start() runs it: records written before are
 * drained into one batch); write(n) puts n records in and resolves their outcomes.
 */
function setup(sink: Sink) {
  const doorbellStorage = createDoorbellStorage();
  const ring = createRingStorage(64 * 1024);
  const writer = new RingWriter(ring, new Doorbell(doorbellStorage));
  const view = new DataView(writer.bytes.buffer);
  const owner = new Owner(new Doorbell(doorbellStorage), sink);
  owner.addRing(new RingReader(ring));
  const start = (): Promise<void> => owner.run();
  const write = (n: number): Promise<number[]>[] =>
    Array.from({ length: n }, (_, i) => {
      const key = Buffer.from(`k${i}`);
      const value = Buffer.from(`v${i}`);
      const at = writer.tryClaim(ContentType.msgpack, payloadLength(key.length, value.length));
      writePayload(writer.bytes, view, at, Date.now(), 0, key, value);
      return new Promise<number[]>((resolve) => writer.commit((status, partition, offset) => resolve([status, partition, offset])));
    });
  return { owner, start, write };
}

describe('owner: sink outcomes to ring outcomes', () => {
  it('unknown -> DURABLE_UNKNOWN, refused -> DURABLE_REFUSED, spilled -> DURABLE_SPILLED, plain -1 -> DURABLE_FAILED', async () => {
    const { owner, start, write } = setup(
      fakeSink((batch) => {
        const n = batch.length;
        const offsets = new Float64Array(n).fill(-1);
        offsets[0] = 7;
        const unknown = new Uint8Array(n);
        const refused = new Uint8Array(n);
        const spilled = new Uint8Array(n);
        if (n > 1) unknown[1] = 1;
        if (n > 2) refused[2] = 1;
        if (n > 3) spilled[3] = 1;
        return { offsets, unknown, refused, spilled, error: 'mixed' };
      }),
    );
    const pending = write(5);
    const done = start(); // one batch of five
    const outcomes = await Promise.all(pending);
    expect(outcomes.map((o) => o[0])).toEqual([DURABLE_OK, DURABLE_UNKNOWN, DURABLE_REFUSED, DURABLE_SPILLED, DURABLE_FAILED]);
    expect(outcomes[0]).toEqual([DURABLE_OK, 0, 7]);
    expect(owner.stats.recordsUnknown).toBe(1);
    expect(owner.stats.recordsFailed).toBe(3);
    owner.stop();
    await done;
  });

  it('abandon(): an append that never resolves is completed as outcome unknown; the owner then stops', async () => {
    const { owner, start, write } = setup(fakeSink(() => undefined));
    const pending = write(3);
    const done = start();
    await new Promise((r) => setTimeout(r, 50)); // drained and handed to the (silent) sink
    expect(owner.pendingRecords).toBe(3);
    owner.abandon();
    const outcomes = await Promise.all(pending);
    expect(outcomes.map((o) => o[0])).toEqual([DURABLE_UNKNOWN, DURABLE_UNKNOWN, DURABLE_UNKNOWN]);
    expect(owner.stats.recordsUnknown).toBe(3);
    owner.stop();
    await done;
  });

  it('a sink that always answers -1 without marks gives DURABLE_FAILED (503: not stored)', async () => {
    const { owner, start, write } = setup(fakeSink((batch) => ({ offsets: new Float64Array(batch.length).fill(-1), error: 'down' })));
    const pending = write(2);
    const done = start();
    const outcomes = await Promise.all(pending);
    expect(outcomes.map((o) => o[0])).toEqual([DURABLE_FAILED, DURABLE_FAILED]);
    expect(owner.stats.recordsUnknown).toBe(0);
    owner.stop();
    await done;
  });
});
