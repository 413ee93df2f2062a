/**
 * A body that is fully received but waits for libuv's thread pool to decode it (it decodes
 * past SYNC_DECODE_LIMIT) is not the client's fault when the pool is busy: at the body
 * timeout it gets 503 + Retry-After, not the 408 "not received" of a slow client. The pool
 * is made busy the way a stalled disk does it: one pool thread (UV_THREADPOOL_SIZE=1), held
 * by an fdatasync the FUSE layer does not finish (test/tools/powercut_fs.py `stall`).
 */
import path from 'node:path';
import zlib from 'node:zlib';
import { expect, it } from 'vitest';
import { SYNC_DECODE_LIMIT } from '../../src/workers/content-encoding.ts';
import { consumeAll, postMetrics, startGateway, tempDir } from '../support/gateway-process.ts';
import { mountPowerCut, usePowerCutFixture } from '../support/powercut-fs.ts';

const fx = usePowerCutFixture();

it('a received body waiting for a busy pool gets 503 at the body timeout, and is stored once the pool is free', async () => {
  fx.dir = await tempDir('metricstream-busypool-');
  fx.layer = await mountPowerCut(fx.dir);
  const dataDir = path.join(fx.layer.mount, 'data');
  process.env.UV_THREADPOOL_SIZE = '1';
  try {
    // A stall limit far off: this test is about the body timeout, not about refusing new requests.
    fx.gateway = await startGateway(['--workers', '1', '--partitions', '1', '--data-dir', dataDir, '--body-timeout', '1s', '--disk-stall-timeout', '60s']);
  } finally {
    delete process.env.UV_THREADPOOL_SIZE;
  }
  const g = fx.gateway;
  const metrics = Array.from({ length: 3000 }, (_, i) => ({ name: `pool_${i}`, value: i, tags: { host: `h${i % 7}` } }));
  const text = JSON.stringify({ metrics });
  expect(text.length).toBeGreaterThan(SYNC_DECODE_LIMIT);
  const gz = zlib.gzipSync(text);
  expect((await postMetrics(g.port, 'first', { metrics: [{ name: 'x', value: 0 }] })).status).toBe(200);

  await fx.layer.stall('.log');
  // Its commit's fdatasync now holds the pool's only thread.
  const waiting = postMetrics(g.port, 'waiting', { metrics: [{ name: 'x', value: 1 }] });
  await new Promise((r) => setTimeout(r, 300));
  const busy = await postMetrics(g.port, 'large', gz, { 'content-encoding': 'gzip' });
  expect(busy.status).toBe(503);
  expect(busy.headers.get('retry-after')).toBe('1');
  expect(busy.body.error).toMatch(/request body received but not decoded within 1000 ms: this gateway's thread pool is busy/);

  await fx.layer.heal();
  expect((await waiting).status).toBe(200);
  expect((await postMetrics(g.port, 'large', gz, { 'content-encoding': 'gzip' })).status).toBe(200);
  expect(await g.stop()).toBe(0);
  const stored = await consumeAll(dataDir);
  expect(stored.map((r) => r.key)).toEqual(['first', 'waiting', 'large']);
  expect(stored[2].value.metrics).toHaveLength(3000);
});
