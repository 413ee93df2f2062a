/**
 * The owner's Produce request buffers are reused, and only once the broker answered the
 * request that held them: never while a request is in flight, never by the wrong
 * request's response (kafkajs shares one response object among all requests of a
 * version), and a request with no response keeps its buffer. The broker round trip with
 * pooled buffers (records consumed back byte for byte) is kafka-sink.test.ts's.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { installProduceEncoder, requestBuffers, type ProduceArgs } from '../../src/kafka/produce-encoder.ts';
import { RequestBufferPool } from '../../src/kafka/request-buffers.ts';

const require = createRequire(import.meta.url);
type Built = { request: { encode(): Promise<{ buf: Buffer }> }; response: { decode(payload: Buffer): Promise<unknown> } };
const produceDefinitions = require('kafkajs/src/protocol/requests/produce/index.js') as {
  protocol(v: { version: number }): (a: ProduceArgs) => Built;
};
const v7Response = require('kafkajs/src/protocol/requests/produce/v7/response.js') as { decode: unknown };

function produceArgs(fill: number, records = 20): ProduceArgs {
  return {
    acks: -1,
    timeout: 30_000,
    topicData: [
      {
        topic: 'metrics',
        partitions: [{ partition: 0, messages: Array.from({ length: records }, () => ({ key: Buffer.from('client'), value: Buffer.alloc(4000, fill), timestamp: 1_700_000_000_000 })) }],
      },
    ],
  };
}

/** The broker's answer to `built`: the payload does not matter to the pool (decode may reject it). */
async function answer(built: Built): Promise<void> {
  await built.response.decode(Buffer.alloc(0)).catch(() => {});
}

describe('RequestBufferPool', () => {
  it('hands out the size asked for, and a buffer given back to the next take of its size class', () => {
    const pool = new RequestBufferPool();
    const a = pool.take(70_000);
    expect(a.bytes.length).toBe(70_000);
    expect(a.backing!.length).toBe(128 * 1024);
    pool.give(a.backing!);
    const b = pool.take(100_000);
    expect(b.backing).toBe(a.backing);
    expect(pool.reused).toBe(1);
    const c = pool.take(70_000); // the only one of the class is out: a new one
    expect(c.backing).not.toBe(a.backing);
    expect(pool.outstanding).toBe(2);
  });

  it('never pools a request larger than its largest class, nor a small one', () => {
    const pool = new RequestBufferPool();
    const big = pool.take(5 * 1024 * 1024);
    expect(big.backing).toBeUndefined();
    expect(big.bytes.length).toBe(5 * 1024 * 1024);
    const small = pool.take(1000);
    expect(small.backing).toBeUndefined();
    expect(small.bytes.length).toBe(1000);
    expect(pool.outstanding).toBe(0);
  });

  it('keeps a bounded number of free buffers per class', () => {
    const pool = new RequestBufferPool();
    const taken = Array.from({ length: 10 }, () => pool.take(20_000).backing!);
    for (const b of taken) pool.give(b);
    const again = Array.from({ length: 10 }, () => pool.take(20_000).backing!);
    expect(pool.reused).toBe(4);
    expect(new Set(again).size).toBe(10);
  });
});

describe('Produce requests and their buffers', () => {
  installProduceEncoder();
  const produce = produceDefinitions.protocol({ version: 7 });

  it('a request in flight keeps its bytes while others come and go; its answer frees them for the next', async () => {
    const first = produce(produceArgs(1));
    const firstBytes = (await first.request.encode()).buf;
    const copy = Buffer.from(firstBytes);
    const reusedBefore = requestBuffers.reused;
    // Ten more requests, each answered at once: they may reuse each other's buffers, never the first's.
    for (let i = 0; i < 10; i++) {
      const other = produce(produceArgs(2 + i));
      await other.request.encode();
      await answer(other);
    }
    expect(requestBuffers.reused).toBeGreaterThan(reusedBefore);
    expect(firstBytes.equals(copy)).toBe(true);
    await answer(first);
    // Now the first one's buffer is free: a request of the same size class gets it.
    const next = produce(produceArgs(99));
    const nextBytes = (await next.request.encode()).buf;
    expect(nextBytes.buffer).toBe(firstBytes.buffer);
    expect(firstBytes.equals(copy)).toBe(false);
    await answer(next);
  });

  it('each request has its own response object: one answer frees only its own request', async () => {
    const a = produce(produceArgs(3));
    const b = produce(produceArgs(4));
    expect(a.response).not.toBe(b.response);
    expect(v7Response.decode).not.toBe(a.response.decode); // kafkajs's shared object is untouched
    const aBytes = (await a.request.encode()).buf;
    const bBytes = (await b.request.encode()).buf;
    expect(aBytes.buffer).not.toBe(bBytes.buffer);
    const bCopy = Buffer.from(bBytes);
    const outstanding = requestBuffers.outstanding;
    await answer(a);
    await answer(a); // a second answer frees nothing more
    expect(requestBuffers.outstanding).toBe(outstanding - 1);
    const c = produce(produceArgs(5));
    const cBytes = (await c.request.encode()).buf;
    expect(cBytes.buffer).not.toBe(bBytes.buffer);
    expect(bBytes.equals(bCopy)).toBe(true);
    await answer(b);
    await answer(c);
  });
});
