/**
 * The admin port under hostile clients (src/main/admin-server.ts), over real sockets
 * against a gateway process: it serves /metrics from the owner thread and shares the
 * process's descriptors with the data port, so an idle flood, a pipeline, a body or a
 * client that does not read must cost it a bounded number of connections and bytes, and
 * scrapes and ingestion go on meanwhile.
 *
 * The gateway has 5,000 tenants (--auth tokens), as a service with many customers does:
 * their series make a /metrics answer of about 3.5 MB, so sixteen pipelined scrapes pass
 * what both ends' kernels buffer for one connection.
 */
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PIPELINED } from '../../src/http/pipelining.ts';
import { ADMIN_MAX_CONNECTIONS } from '../../src/main/admin-server.ts';
import { scrapeAdmin, scrapeSample } from '../support/admin-scrape.ts';
import { adminPortOf, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { socketQueues } from '../support/socket-queues.ts';
import { waitFor } from '../support/wait-for.ts';

const TENANTS = 5000;
const rejected = (reason: string) => `metricstream_admin_rejected_total{reason="${reason}"}`;

let gateway: GatewayProcess;
let adminPort: number;

beforeAll(async () => {
  const dir = await tempDir();
  const tenants = Object.fromEntries(
    Array.from({ length: TENANTS }, (_, i) => [`tenant-${i}`, { tokens: [`sha256:${createHash('sha256').update(`token-${i}`).digest('hex')}`] }]),
  );
  const authFile = path.join(dir, 'auth.json');
  writeFileSync(authFile, JSON.stringify({ tenants }));
  gateway = await startGateway(['--workers', '1', '--data-dir', path.join(dir, 'data'), '--admin-port', '0', '--body-timeout', '1s', '--auth', 'tokens', '--auth-file', authFile]);
  adminPort = adminPortOf(gateway);
});
afterAll(async () => {
  if (gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

const openDescriptors = () => readdirSync(`/proc/${gateway.proc.pid}/fd`).length;
const ingest = () => postMetrics(gateway.port, 'Bearer token-0', { metrics: [{ name: 'beside', value: 1 }] });

/** Reads the admin counter `reason` before and after `run`; resolves with the difference. */
async function rejections(reason: string, run: () => Promise<void>): Promise<number> {
  const read = async () => (await scrapeSample(adminPort, rejected(reason))) || 0;
  const before = await read();
  await run();
  // Samples lag up to a second (one collection a second): wait for the count to settle.
  let after = before;
  await waitFor(`${rejected(reason)} to move`, async () => (after = await read()) > before);
  return after - before;
}

describe('the admin port', () => {
  it(`an idle flood holds at most ${ADMIN_MAX_CONNECTIONS} of the gateway's descriptors; scrapes and ingestion go on, and every idle connection is closed`, async () => {
    const FLOOD = 4 * ADMIN_MAX_CONNECTIONS;
    const baseline = openDescriptors();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, openDescriptors())), 5);
    const heads: string[] = [];
    const evicted = await rejections('too_many_connections', async () => {
      try {
        await Promise.all(
          Array.from(
            { length: FLOOD },
            () =>
              new Promise<void>((resolve) => {
                const socket = net.connect(adminPort, '127.0.0.1');
                let head = '';
                socket.on('data', (d: Buffer) => (head += d.toString('latin1')));
                socket.on('error', () => {});
                socket.on('close', () => heads.push(head.slice(0, 12)));
                socket.once('connect', () => resolve());
              }),
          ),
        );
        // At the cap, a scrape takes the place of an idle connection; the data port is untouched.
        expect((await scrapeAdmin(adminPort)).length).toBeGreaterThan(0);
        expect((await ingest()).status).toBe(200);
        await waitFor('every idle connection to be closed', () => heads.length === FLOOD);
      } finally {
        clearInterval(sampler);
      }
    });
    // The cap, and room for the few connections being closed at any moment (65 measured here;
    // every one of the flood before the cap).
    expect(peak - baseline).toBeLessThanOrEqual(ADMIN_MAX_CONNECTIONS + 16);
    expect(evicted).toBeGreaterThan(0);
    // Each got an answer saying why: 503 when closed to make room, 408 when its time ran out.
    expect(heads.filter((h) => !/^HTTP\/1\.1 (503|408)$/.test(h))).toEqual([]);
  });

  it(`answers ${MAX_PIPELINED} pipelined scrapes, then 503 with a close`, async () => {
    const refused = await rejections('pipelined', async () => {
      const text = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(adminPort, '127.0.0.1');
        const chunks: Buffer[] = [];
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.on('error', reject);
        socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
        socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(MAX_PIPELINED + 4));
      });
      const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
      expect(statuses).toEqual([...Array<string>(MAX_PIPELINED).fill('200'), '503']);
    });
    expect(refused).toBe(1);
  });

  it('refuses a request body without reading it: the connection closes long before the body is sent', async () => {
    const DECLARED = 1 << 30;
    let text = '';
    const refused = await rejections('bad_request', async () => {
      const sent = await new Promise<number>((resolve) => {
        const socket = net.connect(adminPort, '127.0.0.1');
        const chunk = Buffer.alloc(64 << 10, 0x20);
        let bytes = 0;
        let closed = false;
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('error', () => {});
        socket.on('close', () => {
          closed = true;
          resolve(bytes);
        });
        const pump = (): void => {
          while (!closed && bytes < DECLARED) {
            bytes += chunk.length;
            if (!socket.write(chunk)) return void socket.once('drain', pump);
          }
        };
        socket.once('connect', () => {
          socket.write(`POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${DECLARED}\r\n\r\n`);
          pump();
        });
      });
      expect(sent).toBeLessThan(DECLARED / 16);
    });
    expect(refused).toBe(1);
    // The answer may be lost to the reset of bytes still arriving; when read, it is the 400.
    if (text !== '') expect(text).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('answers a request that expects 100-continue with its 400, never inviting the body', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(adminPort, '127.0.0.1');
      let read = '';
      socket.on('data', (d: Buffer) => (read += d.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(read));
      socket.write('POST /metrics HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n');
    });
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('answers CONNECT 405 with a close: it is not a proxy', async () => {
    let text = '';
    const refused = await rejections('method_not_allowed', async () => {
      text = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(adminPort, '127.0.0.1');
        let read = '';
        socket.on('data', (d: Buffer) => (read += d.toString('latin1')));
        socket.on('error', reject);
        socket.on('close', () => resolve(read));
        socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
      });
    });
    expect(refused).toBe(1);
    expect(text).toMatch(/^HTTP\/1\.1 405 /);
    expect(text).toMatch(/\r\nallow: GET, HEAD\r\n/);
    expect(text).toMatch(/not an HTTP proxy/);
  });

  it('answers an HTTP/1.1 scrape without Host 400 in JSON, counted', async () => {
    let text = '';
    const refused = await rejections('bad_request', async () => {
      text = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(adminPort, '127.0.0.1');
        let read = '';
        socket.on('data', (d: Buffer) => (read += d.toString('latin1')));
        socket.on('error', reject);
        socket.on('close', () => resolve(read));
        socket.write('GET /metrics HTTP/1.1\r\n\r\n');
      });
    });
    expect(refused).toBe(1);
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toMatch(/needs a Host header/);
  });

  it('resets a client that pipelines scrapes and does not read them, once its answers have waited --body-timeout', async () => {
    const socket = net.connect(adminPort, '127.0.0.1');
    // Paused before it connects, a Node socket never reads: its answers stay in the kernel.
    socket.pause();
    await new Promise((resolve) => socket.once('connect', resolve));
    const errors: string[] = [];
    socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    const clientPort = socket.localPort!;
    const reset = await rejections('slow_reader', async () => {
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(MAX_PIPELINED));
      await waitFor('the gateway to have answers it cannot send', () => {
        const side = socketQueues(adminPort, clientPort);
        return side !== undefined && side.sendQueue > 0 && socketQueues(clientPort, adminPort)!.receiveQueue > 0;
      });
      // Others are served while the stalled one waits for its cut.
      expect((await scrapeAdmin(adminPort)).length).toBeGreaterThan(0);
      expect((await ingest()).status).toBe(200);
      await waitFor('the gateway side of the connection to be gone', () => socketQueues(adminPort, clientPort) === undefined);
    });
    expect(reset).toBe(1);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.resume();
    });
    expect(errors).toEqual(['ECONNRESET']);
  });

});
