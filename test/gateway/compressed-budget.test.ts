/**
 * Large compressed bodies against the in-flight budget: a body that decodes past what a
 * worker inflates itself (SYNC_DECODE_LIMIT) is decoded in libuv's pool, and what it holds
 * is reserved chunk by chunk as it decodes, not as the whole --max-decoded-body up front
 * (which refused most of 50 clients sending 300 KB bodies with 503). The worker is held
 * busy (the test hook POST /__test/block, METRICSTREAM_TEST_HOOKS=1) while the bodies
 * arrive, so that all of them are decoded at once when it is free again.
 */
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_DECODE_LIMIT } from '../../src/workers/content-encoding.ts';
import { consumeAll, postMetrics, startGatewayWithTestHooks, tempDir, type GatewayProcess } from '../support/gateway-process.ts';

let gateway: GatewayProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = await tempDir();
  // 4 MiB of budget: room for 8 bodies of 300 KB, not for 8 reservations of the 1 MiB cap.
  gateway = await startGatewayWithTestHooks(['--workers', '1', '--data-dir', dataDir, '--max-inflight-bytes', '4mb']);
});
afterAll(async () => {
  if (gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

describe('large compressed bodies and the in-flight budget', () => {
  it('8 bodies of 300 KB decoded at once within 4 MiB of budget are all stored', async () => {
    const metrics = Array.from({ length: 3000 }, (_, i) => ({ name: `budget_${i}`, value: i, tags: { host: `h${i % 7}`, region: 'eu-west-1' } }));
    const text = JSON.stringify({ metrics });
    expect(text.length).toBeGreaterThan(SYNC_DECODE_LIMIT);
    expect(8 * text.length).toBeLessThan(3 << 20);
    const body = zlib.gzipSync(text);
    const blocked = fetch(`http://127.0.0.1:${gateway.port}/__test/block`, { method: 'POST' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300)); // the worker is spinning now
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => postMetrics(gateway.port, `budget-${i}`, body, { 'content-encoding': 'gzip' })));
    await blocked;
    expect(answers.map((a) => a.status)).toEqual(new Array(8).fill(200));
    expect(await gateway.stop()).toBe(0);
    const keys = (await consumeAll(dataDir)).map((r) => r.key).sort();
    expect(keys).toEqual(Array.from({ length: 8 }, (_, i) => `budget-${i}`).sort());
  });
});
