/**
 * A body in tiny chunks costs its bytes, not one object per chunk (src/workers/body-reader.ts):
 * bodies sent with Transfer-Encoding: chunked in 1-byte chunks are stored by a worker held
 * to the smallest heap --worker-heap allows, without it dying, and are stored byte-exact.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPortOf, consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { scrapeSample } from '../support/admin-scrape.ts';

let gateway: GatewayProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = await tempDir();
  // A minute for a body: 3 MB of 1-byte chunks is slow to parse on a loaded machine.
  gateway = await startGateway(['--workers', '1', '--worker-heap', '64mb', '--body-timeout', '60s', '--data-dir', dataDir, '--admin-port', '0']);
});
afterAll(async () => {
  if (gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

/** `json` as a chunked body of 1-byte chunks, POSTed by client `client`; resolves with the status. */
function postInOneByteChunks(client: string, json: string): Promise<number> {
  let body = '';
  for (const ch of json) body += `1\r\n${ch}\r\n`;
  body += '0\r\n\r\n';
  return new Promise((resolve, reject) => {
    const socket = net.connect(gateway.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => {
      text += d.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (status && text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
    socket.write(`POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: ${client}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
  });
}

/** A valid body of about `bytes` bytes: one metric whose tag holds the padding. */
function bodyOf(bytes: number, name: string): string {
  return JSON.stringify({ metrics: [{ name, value: 1, tags: { pad: 'x'.repeat(bytes) } }] });
}

describe('bodies in 1-byte chunks', () => {
  it('two bodies of 512 KiB at once are stored by a worker with a 64 MB heap, which does not die', async () => {
    const statuses = await Promise.all([postInOneByteChunks('tiny-1', bodyOf(512 * 1024, 'big')), postInOneByteChunks('tiny-2', bodyOf(512 * 1024, 'big'))]);
    expect(statuses).toEqual([200, 200]);
    expect(await scrapeSample(adminPortOf(gateway), 'metricstream_worker_restarts_total')).toBe(0);
  });

  it('what was stored is the bodies as sent', async () => {
    expect(await postInOneByteChunks('small', bodyOf(10, 'small'))).toBe(200);
    expect(await gateway.stop()).toBe(0);
    const records = await consumeAll(dataDir);
    expect(records.map((r) => r.key).sort()).toEqual(['small', 'tiny-1', 'tiny-2']);
    for (const r of records) {
      const metric = r.value.metrics[0]!;
      expect(metric.tags!.pad).toBe('x'.repeat(r.key === 'small' ? 10 : 512 * 1024));
    }
  });
});
