import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createDoorbellStorage, Doorbell } from '../../src/ring/doorbell.ts';
import { DURABLE_OK } from '../../src/ring/ring-descriptor.ts';
import { RingReader } from '../../src/ring/ring-reader.ts';
import { createRingStorage } from '../../src/ring/ring-storage.ts';
import { SequenceVerifier } from './fixtures/sequence.ts';

const WRITER = new URL('./fixtures/stress-writer.ts', import.meta.url);

interface WriterReport {
  writer: number;
  fullRetries: number;
  orderErrors: number;
  lostWakeups: number;
}

/**
 * The owner's role, run on the test thread: drains every ring, verifies each record,
 * completes it with (partition = writer, offset = seq) and sleeps on the doorbell when
 * all rings are empty. Returns once every writer reported that all its records were
 * completed in order.
 */
async function runOwner(options: {
  writers: number;
  count: number;
  capacity: number;
  maxLength: number;
  seed: number;
  pingPong: boolean;
}) {
  const doorbellStorage = createDoorbellStorage();
  const doorbell = new Doorbell(doorbellStorage);
  const storages = Array.from({ length: options.writers }, () => createRingStorage(options.capacity));
  const readers = storages.map((s) => new RingReader(s));
  const verifier = new SequenceVerifier(options.writers);
  const reports: WriterReport[] = [];
  const workers = storages.map(
    (storage, writer) =>
      new Worker(WRITER, {
        workerData: { storage, doorbell: doorbellStorage, writer, seed: options.seed, count: options.count, maxLength: options.maxLength, pingPong: options.pingPong },
      }),
  );
  const finished = Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('message', (m: WriterReport) => {
            reports.push(m);
            resolve();
          });
          w.once('error', reject);
          w.once('exit', (code) => code !== 0 && reject(new Error(`writer exited ${code}`)));
        }),
    ),
  );
  let allReported = false;
  let writerError: unknown;
  finished.then(
    () => {
      allReported = true;
      doorbell.wake();
    },
    (e: unknown) => {
      writerError = e;
      allReported = true;
      doorbell.wake();
    },
  );
  let timedOutSleeps = 0;
  let firstError: unknown;
  const hasWork = () => readers.some((r) => r.hasRecords());
  while (!allReported) {
    let n = 0;
    for (const reader of readers) {
      n += reader.read((_type, bytes, index, length) => {
        try {
          const { writer, seq } = verifier.verify(bytes, index, length);
          reader.complete(DURABLE_OK, writer, seq);
        } catch (e) {
          firstError ??= e;
          reader.complete(1, -1, -1);
        }
      }, 256);
      reader.publish();
    }
    if (n === 0 && !allReported && (await doorbell.sleep(5000, hasWork)) === 'timed-out' && hasWork()) {
      timedOutSleeps++;
    }
  }
  await Promise.all(workers.map((w) => w.terminate()));
  if (writerError) throw writerError;
  if (firstError) throw firstError;
  return { verifier, reports, timedOutSleeps, storages };
}

describe('ring across real threads', () => {
  it('16 writers, 1 reader, seeded sizes, 50+ laps: content, order, no loss, no duplicate', async () => {
    const writers = 16;
    const count = 6000;
    const capacity = 4096;
    const maxLength = 200; // capacity/8 = 512 max record; ~106 B average payload
    const { verifier, reports, storages } = await runOwner({ writers, count, capacity, maxLength, seed: 20261123, pingPong: false });
    expect(verifier.records).toBe(writers * count);
    expect(verifier.nextSeq).toEqual(new Array(writers).fill(count));
    for (const r of reports) expect(r.orderErrors).toBe(0);
    // At least 50 laps of every ring.
    const laps = storages.map((s) => new Float64Array(s.buffer)[(4 * 128) / 8 + 2] / capacity);
    expect(Math.min(...laps)).toBeGreaterThanOrEqual(50);
    // Small rings under 16 writers do fill up: the full path was exercised too.
    expect(reports.reduce((a, r) => a + r.fullRetries, 0)).toBeGreaterThan(0);
  });

  it('doorbell and durable cursor: 4 writers in ping-pong never lose a wake-up', async () => {
    const { verifier, reports, timedOutSleeps } = await runOwner({ writers: 4, count: 500, capacity: 1024, maxLength: 64, seed: 7, pingPong: true });
    expect(verifier.records).toBe(2000);
    expect(timedOutSleeps).toBe(0);
    for (const r of reports) {
      expect(r.orderErrors).toBe(0);
      expect(r.lostWakeups).toBe(0);
    }
  });
});
