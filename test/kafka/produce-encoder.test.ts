/**
 * Our Produce request encoder writes exactly the bytes kafkajs writes (generated batches:
 * several topics and partitions, keys and values as Buffers, strings, null and empty,
 * headers, idempotent producer ids, epochs and sequences, transactional ids), declines
 * what it does not take (compression, odd shapes) so kafkajs encodes it, and once installed
 * kafkajs's Produce v3-v7 requests carry its bytes. The broker round trip (records consumed
 * back at their offsets, idempotent sends accepted) is kafka-sink.test.ts's.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { encodeProduceRequest, installProduceEncoder, type ProduceArgs, type ProduceMessage } from '../../src/kafka/produce-encoder.ts';

const require = createRequire(import.meta.url);
const kafkajsV3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (a: ProduceArgs) => { encode(): Promise<{ buffer: Buffer }> };
const produceDefinitions = require('kafkajs/src/protocol/requests/produce/index.js') as {
  protocol(v: { version: number }): (a: ProduceArgs) => { request: { apiVersion: number; encode(): Promise<{ buffer: Buffer }> } };
};
/** kafkajs's framing of a request (size prefix, header, body): what its connection writes. */
const createRequest = require('kafkajs/src/protocol/request.js') as (a: { correlationId: number; clientId: string; request: unknown }) => Promise<{ buffer: Buffer }>;
const Long = require('kafkajs/src/utils/long') as { fromValue(v: unknown): unknown; fromInt(v: number): unknown };

/** Deterministic pseudo-random numbers (a failure names its seed). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function bytes(r: () => number, max: number): Buffer | string | null {
  const kind = r();
  const len = Math.floor(r() * max);
  if (kind < 0.1) return null;
  if (kind < 0.15) return Buffer.alloc(0);
  if (kind < 0.35) return 'ü€'.repeat(len % 20) + 'x'.repeat(len); // multi-byte UTF-8
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function message(r: () => number, now: number): ProduceMessage {
  const headers: Record<string, Buffer | string> = {};
  const nh = Math.floor(r() * 3);
  for (let h = 0; h < nh; h++) headers[h === 0 ? 'content-type' : `h-${h}-é`] = h % 2 ? `v${h}` : Buffer.from('application/msgpack');
  const value = bytes(r, r() < 0.1 ? 20_000 : 300);
  return {
    key: r() < 0.1 ? undefined : bytes(r, 40),
    value,
    ...(r() < 0.2 ? {} : { headers }),
    // same number of digits, out of order within a batch (records from several workers)
    timestamp: r() < 0.5 ? String(now + Math.floor(r() * 5000) - 2500) : now + Math.floor(r() * 5000),
  };
}

function args(seed: number): ProduceArgs {
  const r = rng(seed);
  const now = 1_700_000_000_000 + Math.floor(r() * 1e9);
  const topics = 1 + Math.floor(r() * 2);
  return {
    acks: [-1, 1, 0][Math.floor(r() * 3)],
    timeout: 1 + Math.floor(r() * 30_000),
    compression: 0,
    transactionalId: r() < 0.2 ? 'tx-ü' : null,
    producerId: r() < 0.3 ? undefined : r() < 0.5 ? Long.fromValue(Math.floor(r() * 2 ** 40)) : Math.floor(r() * 1000),
    producerEpoch: r() < 0.3 ? undefined : Math.floor(r() * 100),
    topicData: Array.from({ length: topics }, (_, t) => ({
      topic: `metrics-${t}`,
      partitions: Array.from({ length: 1 + Math.floor(r() * 4) }, (_, p) => ({
        partition: p,
        ...(r() < 0.5 ? { firstSequence: Math.floor(r() * 2 ** 31) } : {}),
        messages: Array.from({ length: 1 + Math.floor(r() * (r() < 0.2 ? 300 : 10)) }, () => message(r, now)),
      })),
    })),
  };
}

describe('Produce request encoder', () => {
  it('writes the bytes kafkajs writes, for 300 generated requests', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const a = args(seed);
      const ours = encodeProduceRequest(a);
      expect(ours, `seed ${seed}`).toBeDefined();
      const theirs = (await kafkajsV3(a).encode()).buffer;
      expect(ours!.equals(theirs), `seed ${seed}: ${ours!.length} vs ${theirs.length} bytes`).toBe(true);
    }
  });

  it('declines compression and shapes it does not write like kafkajs', () => {
    const base = args(7);
    const m = base.topicData[0].partitions[0].messages[0];
    const variant = (change: Partial<ProduceMessage>): ProduceArgs => ({
      ...base,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ ...m, ...change }] }] }],
    });
    expect(encodeProduceRequest({ ...base, compression: 1 })).toBeUndefined();
    expect(encodeProduceRequest(variant({ timestamp: undefined }))).toBeUndefined();
    expect(encodeProduceRequest(variant({ timestamp: '1700000000000.5' }))).toBeUndefined();
    expect(encodeProduceRequest(variant({ value: new Uint8Array([1, 2]) as unknown as Buffer }))).toBeUndefined();
    expect(encodeProduceRequest(variant({ headers: { a: ['x', 'y'] } }))).toBeUndefined();
    expect(encodeProduceRequest(variant({ headers: { a: null } }))).toBeUndefined();
  });

  it('once installed, kafkajs Produce v3-v7 requests carry our bytes; compressed ones kafkajs encodes', async () => {
    installProduceEncoder();
    installProduceEncoder(); // a second call changes nothing
    const a = args(42);
    const expected = (await kafkajsV3(a).encode()).buffer;
    for (const version of [3, 4, 5, 6, 7]) {
      const { request } = produceDefinitions.protocol({ version })(a);
      expect(request.apiVersion).toBe(version);
      expect((await request.encode()).buffer.equals(expected)).toBe(true);
    }
    const gzip = { ...a, compression: 1 };
    const { request } = produceDefinitions.protocol({ version: 7 })(gzip);
    expect((await request.encode()).buffer.equals((await kafkajsV3(gzip).encode()).buffer)).toBe(true);
  });

  it('once installed, frames our requests in place: the bytes kafkajs frames, in the buffer the body was written into', async () => {
    installProduceEncoder();
    for (const [seed, clientId] of [[5, 'metricstream'], [6, 'ü'.repeat(20)], [7, 'c'.repeat(300)]] as const) {
      const a = args(seed);
      const body = (await kafkajsV3(a).encode()).buffer;
      const theirs = kafkajsV3(a) as unknown as { apiKey: number; apiVersion: number };
      const expected = await createRequest({ correlationId: 1234 + seed, clientId, request: theirs });
      const { request } = produceDefinitions.protocol({ version: 3 })(a);
      const encode = request.encode;
      let ours: { buf: Buffer } | undefined;
      request.encode = async () => {
        const e = await encode();
        ours = e as unknown as { buf: Buffer };
        return e;
      };
      const framed = await createRequest({ correlationId: 1234 + seed, clientId, request });
      expect(framed.buffer.equals(expected.buffer), `seed ${seed}`).toBe(true);
      expect(framed.buffer.subarray(framed.buffer.length - body.length).equals(body)).toBe(true);
      // In place (one buffer, the body where it was written) unless the client id does not
      // fit the room left before the body: then kafkajs copies, as without the patch.
      const sameMemory = framed.buffer.buffer === ours!.buf.buffer && framed.buffer.byteOffset + framed.buffer.length === ours!.buf.byteOffset + ours!.buf.length;
      expect(sameMemory, `seed ${seed}`).toBe(clientId.length < 200);
    }
  });
});
