/**
 * KafkaSink against a real Kafka-protocol cluster: librdkafka's mock cluster (kcat) behind
 * our KafkaProxy. Every record reported durable must be in the topic at the reported
 * partition and offset, with its key, value bytes, content-type and timestamp, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalBroker, type LocalBroker } from '../support/local-broker.ts';
import { KafkaSink, type KafkaSinkOptions } from '../../src/kafka/kafka-sink.ts';
import { readTopicPartitions } from '../../src/kafka/topic-metadata.ts';
import { compressPoolStats } from '../../src/kafka/compress-pool.ts';
import { silentLogger } from '../../src/kafka/kafkajs-log.ts';
import { requestBuffers } from '../../src/kafka/produce-encoder.ts';
import { CONTENT_TYPE_NAMES, type AppendResult, type SinkRecord } from '../../src/sink/sink.ts';
import { createKafkaSink } from '../../src/kafka/create-kafka-sink.ts';
import { parseConfig } from '../../src/main/config.ts';
import pino from 'pino';
import { consumeAll, freshTopic, kcatAll, makeRecords } from './helpers.ts';

let broker: LocalBroker;

beforeAll(async () => {
  // Fails (never skips) with "kcat missing: run .ci/install-debian-packages" when kcat is absent.
  broker = await startLocalBroker({ brokers: 3 });
});

afterAll(async () => {
  await broker?.stop();
});

function sinkFor(topic: string, extra: Partial<KafkaSinkOptions> = {}): KafkaSink {
  return new KafkaSink({
    brokers: broker.bootstrap.split(','),
    topic,
    acks: -1,
    compression: 'none',
    idempotent: false,
    flushTimeoutMs: 2000,
    logger: silentLogger,
    ...extra,
  });
}

async function waitReady(sink: KafkaSink): Promise<void> {
  while (!sink.isReady()) await new Promise((r) => setTimeout(r, 20));
}

/** `value` followed by filler bytes up to `size` (a bigger, still compressible value). */
function padded(value: Uint8Array, size: number): Buffer {
  return Buffer.concat([value, Buffer.alloc(Math.max(0, size - value.byteLength), 0x2e)]);
}

/** Expected offsets: per partition, consecutive from `start[p]` in batch order. */
function expectedOffsets(batch: SinkRecord[], start: number[] = [0, 0, 0, 0]): number[] {
  const next = [...start];
  return batch.map((r) => next[r.partition]++);
}

/** Checks that the topic holds exactly `batch` at `result`'s offsets, via kafkajs and kcat. */
async function expectTopicHolds(topic: string, batch: SinkRecord[], result: AppendResult): Promise<void> {
  const byPos = new Map<string, SinkRecord>();
  batch.forEach((r, i) => byPos.set(`${r.partition}/${result.offsets[i]}`, r));

  const read = await consumeAll(broker.bootstrap, topic, batch.length);
  expect(read).toHaveLength(batch.length); // nothing lost, nothing twice
  for (const m of read) {
    const r = byPos.get(`${m.partition}/${m.offset}`);
    expect(r, `unexpected message at ${m.partition}/${m.offset}`).toBeDefined();
    expect(m.key.equals(Buffer.from(r!.key))).toBe(true);
    expect(m.value.equals(Buffer.from(r!.value))).toBe(true);
    expect(m.contentType).toBe(CONTENT_TYPE_NAMES[r!.contentType]);
    expect(m.timestamp).toBe(String(r!.timestamp));
  }

  const viaKcat = await kcatAll(broker.bootstrap, topic);
  expect(viaKcat).toHaveLength(batch.length);
  for (const m of viaKcat) {
    const r = byPos.get(`${m.partition}/${m.offset}`)!;
    expect(r).toBeDefined();
    expect(m.key).toBe(Buffer.from(r.key).toString());
    expect(m.headers).toEqual(['content-type', CONTENT_TYPE_NAMES[r.contentType]]);
    expect(m.ts).toBe(r.timestamp);
    if (CONTENT_TYPE_NAMES[r.contentType] === 'application/json') {
      expect(m.payload).toBe(Buffer.from(r.value).toString());
    }
  }
}

describe('KafkaSink against the mock cluster', () => {
  it('reads the topic partition count from metadata (the mock gives 4)', async () => {
    const topic = freshTopic('count');
    expect(await readTopicPartitions(broker.bootstrap.split(','), topic)).toBe(4);
    const sink = sinkFor(topic);
    await sink.open();
    expect(sink.isReady()).toBe(true);
    expect(sink.partitionCount()).toBe(4);
    await sink.close();
  });

  it('refuses a topic whose partition count differs from --partitions', async () => {
    const topic = freshTopic('mismatch');
    const argv = ['--mode', 'kafka', '--brokers', broker.bootstrap, '--topic', topic];
    const quiet = pino({ level: 'silent' });
    await expect(createKafkaSink(parseConfig([...argv, '--partitions', '8'])!, quiet)).rejects.toThrow(
      /has 4 partitions but --partitions is 8/,
    );
    const ok = await createKafkaSink(parseConfig([...argv, '--partitions', '4'])!, quiet);
    await ok.open();
    expect(ok.isReady()).toBe(true);
    await ok.close();

    // The sink itself never becomes ready on a mismatched topic (e.g. found only later).
    const sink = sinkFor(topic, { expectPartitions: 8 });
    await sink.open();
    expect(sink.isReady()).toBe(false);
    expect(sink.lastFailure()).toMatch(/refusing to produce/);
    expect((await sink.append(makeRecords(2))).error).toMatch(/refusing to produce/);
    await sink.close();
  });

  it('acks=all: maps base offsets back to every record; the topic holds each record once', async () => {
    const topic = freshTopic('acks-all');
    const sink = sinkFor(topic);
    await sink.open();
    const first = makeRecords(40, 4, 'a');
    const r1 = await sink.append(first);
    expect(r1.error).toBeUndefined();
    expect(Array.from(r1.offsets)).toEqual(expectedOffsets(first));
    expect(new Set(first.map((r) => r.partition)).size).toBe(4);

    // A second batch continues each partition where the first ended.
    const second = makeRecords(12, 4, 'b');
    const r2 = await sink.append(second);
    const ends = [0, 1, 2, 3].map((p) => first.filter((r) => r.partition === p).length);
    expect(Array.from(r2.offsets)).toEqual(expectedOffsets(second, ends));
    await sink.close();

    const all = [...first, ...second];
    const offsets = new Float64Array([...r1.offsets, ...r2.offsets]);
    await expectTopicHolds(topic, all, { offsets });
  });

  it('requests big enough for pooled buffers reuse them, and the topic holds every record byte for byte', async () => {
    // ~4 KB records, 24 per append over 4 partitions and 3 brokers: requests of 16-40 KB,
    // which take their buffers from the pool (src/kafka/request-buffers.ts) and give them
    // back on the broker's answer. When a buffer may be reused is pinned by
    // request-buffers.test.ts; this checks that requests written from reused buffers
    // deliver every record intact.
    const topic = freshTopic('pooled');
    const sink = sinkFor(topic);
    await sink.open();
    const reusedBefore = requestBuffers.reused;
    const all: SinkRecord[] = [];
    const offsets: number[] = [];
    for (let a = 0; a < 30; a++) {
      const batch = makeRecords(24, 4, `p${a}-`).map((r) => ({ ...r, value: padded(r.value, 4000 + a) }));
      const r = await sink.append(batch);
      expect(r.error).toBeUndefined();
      all.push(...batch);
      offsets.push(...r.offsets);
    }
    expect(requestBuffers.reused).toBeGreaterThan(reusedBefore);
    await sink.close();
    await expectTopicHolds(topic, all, { offsets: new Float64Array(offsets) });
  });

  it('an append above maxPartitionBatchBytes goes out as several requests, in order', async () => {
    const topic = freshTopic('chunks');
    // ~150-byte records, at most ~4 per partition per request: 60 records take many requests
    const sink = sinkFor(topic, { maxPartitionBatchBytes: 1000 });
    await sink.open();
    const batch = makeRecords(60);
    const r = await sink.append(batch);
    expect(r.error).toBeUndefined();
    expect(Array.from(r.offsets)).toEqual(expectedOffsets(batch));
    await sink.close();
    await expectTopicHolds(topic, batch, r);
  });

  it('acks=1 returns broker offsets too', async () => {
    const topic = freshTopic('acks-1');
    const sink = sinkFor(topic, { acks: 1 });
    await sink.open();
    const batch = makeRecords(20);
    const r = await sink.append(batch);
    expect(r.error).toBeUndefined();
    expect(r.unacknowledged).toBeUndefined();
    expect(Array.from(r.offsets)).toEqual(expectedOffsets(batch));
    await sink.close();
    await expectTopicHolds(topic, batch, r);
  });

  it('acks=0 reports records as sent but unacknowledged, and they arrive', async () => {
    const topic = freshTopic('acks-0');
    const sink = sinkFor(topic, { acks: 0 });
    await sink.open();
    const batch = makeRecords(16);
    const r = await sink.append(batch);
    expect(r.error).toBeUndefined();
    expect(r.unacknowledged).toBe(true);
    expect(Array.from(r.offsets).every((o) => o === 0)).toBe(true);
    await sink.close();
    // Nothing tells acks=0 offsets; the broker assigned them in batch order all the same.
    await expectTopicHolds(topic, batch, { offsets: new Float64Array(expectedOffsets(batch)) });
  });

  it('idempotent producer (InitProducerId, acks=all, one request in flight) delivers once', async () => {
    expect(() => sinkFor('x', { idempotent: true, acks: 1 })).toThrow(/acks -1/);
    const topic = freshTopic('idempotent');
    const sink = sinkFor(topic, { idempotent: true });
    await sink.open();
    expect(sink.isReady()).toBe(true);
    const a = makeRecords(30, 4, 'a');
    const b = makeRecords(30, 4, 'b');
    const ra = await sink.append(a);
    const rb = await sink.append(b);
    expect(ra.error).toBeUndefined();
    expect(rb.error).toBeUndefined();
    await sink.close();
    await expectTopicHolds(topic, [...a, ...b], { offsets: new Float64Array([...ra.offsets, ...rb.offsets]) });
  });

  for (const compression of ['gzip', 'lz4', 'snappy', 'zstd'] as const) {
    it(`${compression}: large batches compress in the piscina pool, small ones inline; both decode`, async () => {
      const topic = freshTopic(compression);
      const sink = sinkFor(topic, { compression });
      await sink.open();
      // ~4 KiB values: 64 records put ~64 KiB in each partition's record batch
      const large = makeRecords(64, 4, 'large').map((r) => ({ ...r, value: padded(r.value, 4096) }));
      const before = compressPoolStats()?.completed ?? 0;
      const r1 = await sink.append(large);
      expect(r1.error).toBeUndefined();
      // one compress task per partition's record batch, all on pool threads
      expect(compressPoolStats()!.completed - before).toBeGreaterThanOrEqual(4);

      const small = makeRecords(8, 4, 'small'); // a few hundred bytes: inline
      const between = compressPoolStats()!.completed;
      const r2 = await sink.append(small);
      expect(r2.error).toBeUndefined();
      expect(compressPoolStats()!.completed).toBe(between);
      await sink.close();

      const ends = [0, 1, 2, 3].map((p) => large.filter((r) => r.partition === p).length);
      expect(Array.from(r2.offsets)).toEqual(expectedOffsets(small, ends));
      await expectTopicHolds(topic, [...large, ...small], {
        offsets: new Float64Array([...r1.offsets, ...r2.offsets]),
      });
    });
  }

  it('records for a partition the topic lacks fail alone; the rest are delivered', async () => {
    const topic = freshTopic('range');
    const sink = sinkFor(topic);
    await sink.open();
    const batch = makeRecords(8);
    const bad = { ...batch[0], partition: 4 };
    const r = await sink.append([bad, ...batch]);
    expect(r.offsets[0]).toBe(-1);
    expect(r.error).toMatch(/partition 4 out of range/);
    expect(Array.from(r.offsets.subarray(1))).toEqual(expectedOffsets(batch));
    await sink.close();
    await expectTopicHolds(topic, batch, { offsets: r.offsets.subarray(1) });
  });

  it('cluster unreachable at open: open resolves not ready, appends fail fast with -1', async () => {
    const sink = new KafkaSink({
      brokers: ['127.0.0.1:1'],
      topic: 'never',
      acks: -1,
      compression: 'none',
      idempotent: false,
      flushTimeoutMs: 500,
      connectionTimeoutMs: 300,
      logger: silentLogger,
    });
    await sink.open();
    expect(sink.isReady()).toBe(false);
    const r = await sink.append(makeRecords(3));
    expect(Array.from(r.offsets)).toEqual([-1, -1, -1]);
    expect(r.error).toMatch(/not ready/);
    expect((await sink.closeWithReport()).undelivered).toBe(0);
  });

  for (const mode of ['refuse', 'blackhole'] as const) {
    it(`cluster lost (${mode}): append resolves -1 with an error, readiness drops and comes back`, async () => {
      const topic = freshTopic(`lost-${mode}`);
      const sink = sinkFor(topic, {
        requestTimeoutMs: 800,
        connectionTimeoutMs: 300,
        retries: 1,
        idempotent: mode === 'blackhole', // also exercises the producer reset
      });
      await sink.open();
      const before = makeRecords(8, 4, 'before');
      const r1 = await sink.append(before);
      expect(r1.error).toBeUndefined();

      await broker.proxy!.cut(mode);
      try {
        let settled = false;
        const pending = sink.append(makeRecords(8, 4, 'during')).finally(() => (settled = true));
        if (mode === 'blackhole') {
          // a silent cluster shows as request timeouts: readiness drops at the first one,
          // before the append has used up its retries
          while (sink.isReady()) await new Promise((r) => setTimeout(r, 20));
          expect(settled).toBe(false);
        }
        const r2 = await pending;
        expect(Array.from(r2.offsets).every((o) => o === -1)).toBe(true);
        expect(r2.error).toBeTruthy();
        expect(sink.isReady()).toBe(false);
        // while not ready, appends fail at once instead of waiting out a timeout each
        const r2b = await sink.append(makeRecords(2, 4, 'during2'));
        expect(r2b.error).toMatch(/not ready/);
      } finally {
        // (a failed assertion must not leave the shared cluster cut off)
        await broker.proxy!.restore();
      }
      await waitReady(sink);
      const after = makeRecords(8, 4, 'after');
      const r3 = await sink.append(after);
      expect(r3.error).toBeUndefined();
      await sink.close();

      // Every record reported durable is in the topic at its offset. The failed batch
      // may or may not have landed (no ack came back): that is at-least-once.
      const read = await consumeAll(broker.bootstrap, topic, before.length + after.length);
      const at = new Map(read.map((m) => [`${m.partition}/${m.offset}`, m]));
      const durable: [SinkRecord, number][] = [
        ...before.map((r, i) => [r, r1.offsets[i]] as [SinkRecord, number]),
        ...after.map((r, i) => [r, r3.offsets[i]] as [SinkRecord, number]),
      ];
      for (const [rec, off] of durable) {
        const m = at.get(`${rec.partition}/${off}`);
        expect(m, `durable record missing at ${rec.partition}/${off}`).toBeDefined();
        expect(m!.value.equals(Buffer.from(rec.value))).toBe(true);
      }
    });
  }

  it('close() is bounded by flushTimeoutMs and reports the records still in flight', async () => {
    const topic = freshTopic('close');
    const sink = sinkFor(topic, { requestTimeoutMs: 1500, retries: 0, flushTimeoutMs: 200 });
    await sink.open();
    await broker.proxy!.cut('blackhole');
    try {
      const pending = sink.append(makeRecords(5));
      await new Promise((r) => setTimeout(r, 50));
      const report = await sink.closeWithReport();
      expect(report.undelivered).toBe(5);
      const r = await pending; // still resolves at the deadline, never hangs
      expect(Array.from(r.offsets).every((o) => o === -1)).toBe(true);
      // sent to a silent broker: the outcome is unknown (answered 504), not "not stored"
      expect(Array.from(r.unknown ?? [])).toEqual([1, 1, 1, 1, 1]);
    } finally {
      await broker.proxy!.restore();
    }
    const late = await sink.append(makeRecords(1));
    expect(late.error).toMatch(/closed/);
  });
});
