import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';

let gateway: GatewayProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = await tempDir();
  gateway = await startGateway(['--workers', '2', '--data-dir', dataDir, '--max-body', '4kb', '--body-timeout', '1s']);
});
afterAll(async () => {
  if (gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

/** Sends raw bytes on a fresh connection and returns everything the server answered. */
function raw(request: string | Buffer, keepOpenMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(gateway.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d));
    socket.on('end', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.write(request);
    if (keepOpenMs === 0) socket.end();
  });
}

function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
}

function bodyOf(answer: string): Record<string, unknown> {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
}

const good = { metrics: [{ name: 'cpu', value: 1 }] };

describe('bad input gets a clear error and costs the server nothing', () => {
  it('400 for a body that is not JSON', async () => {
    const res = await postMetrics(gateway.port, 'c', '{"metrics": [');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/not valid JSON/);
  });

  it('400 naming the field for a wrong shape', async () => {
    expect((await postMetrics(gateway.port, 'c', { metric: [] })).body.error).toMatch(/"metrics" must be an array/);
    expect((await postMetrics(gateway.port, 'c', { metrics: [] })).body.error).toMatch(/must not be empty/);
    const res = await postMetrics(gateway.port, 'c', { metrics: [{ name: 'a', value: 1 }, { name: 'b', value: 'high' }] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('metrics[1].value must be a finite number');
    expect((await postMetrics(gateway.port, 'c', { metrics: [{ value: 1 }] })).body.error).toBe('metrics[0].name must be a non-empty string');
    expect((await postMetrics(gateway.port, 'c', { metrics: [{ name: 'a', value: 1, tags: { x: 1 } }] })).body.error).toBe('metrics[0].tags.x must be a string');
    expect((await postMetrics(gateway.port, 'c', { metrics: [{ name: 'a', value: 1, timestamp: 'now' }] })).body.error).toMatch(/timestamp must be a number/);
  });

  it('400 for malformed msgpack', async () => {
    const res = await postMetrics(gateway.port, 'c', Buffer.from([0xc1, 0xff, 0x00]), { 'content-type': 'application/msgpack' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/msgpack/);
  });

  it('401 without a client id', async () => {
    const res = await postMetrics(gateway.port, undefined, good);
    expect(res.status).toBe(401);
    expect(res.body.error).toMatch(/Authorization/);
  });

  it('404 for an unknown path and 405 for a wrong method', async () => {
    const missing = await fetch(`http://127.0.0.1:${gateway.port}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no route for GET /nope' });
    const wrong = await fetch(`http://127.0.0.1:${gateway.port}/metrics`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(((await wrong.json()) as { error: string }).error).toMatch(/POST/);
  });

  it('405 for CONNECT, as from a client that takes the gateway for its proxy; the connection is closed', async () => {
    const answer = await raw('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 1);
    expect(statusOf(answer)).toBe(405);
    expect(answer).toMatch(/\r\nallow: GET, HEAD, POST\r\n/);
    expect(bodyOf(answer).error).toMatch(/not an HTTP proxy/);
  });

  it('400 in JSON for an HTTP/1.1 request without Host; HTTP/1.0 needs none', async () => {
    const body = JSON.stringify(good);
    const missing = await raw(`POST /metrics HTTP/1.1\r\nAuthorization: c\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(statusOf(missing)).toBe(400);
    expect(bodyOf(missing).error).toMatch(/needs a Host header/);
    const old = await raw(`POST /metrics HTTP/1.0\r\nAuthorization: http10_client\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 1);
    expect(statusOf(old)).toBe(200);
  });

  it('an unknown Expect is ignored, as RFC 9110 allows: the request is served', async () => {
    const body = JSON.stringify(good);
    const answer = await raw(`POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: expect_client\r\nExpect: something-else\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 1);
    expect(statusOf(answer)).toBe(200);
    expect(bodyOf(answer).accepted).toBe(1);
  });

  it('501 for a transfer coding other than chunked, which would hand the body over still coded', async () => {
    const body = JSON.stringify(good);
    const answer = await raw(
      `POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: c\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    expect(statusOf(answer)).toBe(501);
    expect(bodyOf(answer).error).toMatch(/Transfer-Encoding "gzip, chunked" is not supported/);
  });

  it('408 for a body that does not arrive in time', async () => {
    const answer = await raw(
      'POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: slow\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"metr',
      1,
    );
    expect(statusOf(answer)).toBe(408);
    expect(bodyOf(answer).error).toMatch(/not received within 1000 ms/);
  });

  it('413 for a body over --max-body, declared or streamed', async () => {
    const big = JSON.stringify({ metrics: Array.from({ length: 400 }, (_, i) => ({ name: `m${i}`, value: i })) });
    const declared = await postMetrics(gateway.port, 'c', big);
    expect(declared.status).toBe(413);
    expect(declared.body.error).toMatch(/exceeds --max-body 4096/);
    const chunked = await raw(
      `POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: c\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
    );
    expect(statusOf(chunked)).toBe(413);
  });

  it('415 for another content type', async () => {
    const res = await postMetrics(gateway.port, 'c', 'cpu=1', { 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(res.body.error).toMatch(/application\/json or application\/msgpack/);
  });

  it('400 for a request that is not HTTP at all', async () => {
    const answer = await raw('HELLO THERE\r\n\r\n');
    expect(statusOf(answer)).toBe(400);
    expect(bodyOf(answer).error).toMatch(/malformed HTTP request/);
  });

  it('/healthz and /readyz answer', async () => {
    expect(await (await fetch(`http://127.0.0.1:${gateway.port}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`http://127.0.0.1:${gateway.port}/readyz`)).json()).toEqual({ ready: true });
  });

  it('keeps serving everybody else, and stores only the good records', async () => {
    const res = await postMetrics(gateway.port, 'good_client', good);
    expect(res.status).toBe(200);
    expect(await gateway.stop()).toBe(0);
    const stored = await consumeAll(dataDir);
    // The two answered 200 above (HTTP/1.0, an unknown Expect) and this one.
    expect(stored.map((r) => r.key).sort()).toEqual(['expect_client', 'good_client', 'http10_client']);
  });
});
