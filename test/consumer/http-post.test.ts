/**
 * One POST to a store (src/consumer/sinks/http-post.ts) against a real HTTP server on
 * loopback that answers with far more than anyone needs: the consumer reads the start of
 * the answer and drops the rest with the connection, whatever the store sends. An answer
 * of ordinary size is read whole, and its connection serves the next POST.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES, post } from '../../src/consumer/sinks/http-post.ts';

const HUGE = 1 << 30;
const servers: http.Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A store answering every POST with `status` and a body of `bytes`, streamed while the client takes it. */
async function store(status: number, bytes: number): Promise<{ url: URL; sent: () => number; connections: () => number }> {
  let sent = 0;
  let connections = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(bytes) });
      const chunk = Buffer.alloc(Math.min(bytes, 1 << 20), 'x');
      let left = bytes;
      const pump = (): void => {
        while (left > 0 && !res.destroyed) {
          const n = Math.min(left, chunk.length);
          left -= n;
          sent += n;
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
        }
        if (left === 0) res.end();
      };
      pump();
    });
  });
  servers.push(server);
  server.on('connection', (_: Socket) => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: new URL(`http://127.0.0.1:${port}/api/v1/write`), sent: () => sent, connections: () => connections };
}

describe('a store that answers with more than the consumer needs', () => {
  it('a 1 GiB error page: the retry keeps its first 500 characters, and the rest is never read', async () => {
    const s = await store(503, HUGE);
    const outcome = await post(s.url, Buffer.from('x'), {}, 30_000);
    expect(outcome.kind).toBe('retry');
    expect(outcome.kind === 'retry' && outcome.message).toBe(`HTTP 503: ${'x'.repeat(500)}`);
    // What the store could write before the consumer dropped the connection: its socket
    // buffers and a few chunks, not the gigabyte.
    expect(s.sent()).toBeLessThan(HUGE / 16);
  });

  it('a 1 GiB 200: delivered, and the body is dropped unread', async () => {
    const s = await store(200, HUGE);
    expect(await post(s.url, Buffer.from('x'), {}, 30_000)).toEqual({ kind: 'ok', status: 200 });
    expect(s.sent()).toBeLessThan(HUGE / 16);
  });

  it('an answer of ordinary size is read whole, and its connection serves the next POST', async () => {
    const s = await store(204, 0);
    for (let i = 0; i < 6; i++) expect(await post(s.url, Buffer.from('x'), {}, 30_000)).toEqual({ kind: 'ok', status: 204 });
    const small = await store(400, MAX_ANSWER_BYTES);
    for (let i = 0; i < 6; i++) expect((await post(small.url, Buffer.from('x'), {}, 30_000)).kind).toBe('refused');
    // Six POSTs each: a connection dropped with every answer would make six. fetch (undici)
    // may open a second one while the first is handed back to its pool.
    expect(s.connections()).toBeLessThanOrEqual(2);
    expect(small.connections()).toBeLessThanOrEqual(2);
  });
});
