/**
 * ConnectionCap over real TCP connections on loopback: which connection goes at the cap,
 * what it is told, and the states a connection moves through. The servers' own tests
 * (test/gateway/overload.test.ts, admin-port.test.ts, test/auth/tls.test.ts) attack whole gateways.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { answerConnect, ConnectionCap, type Admission } from '../../src/http/connection-cap.ts';
import { requestArrived } from '../../src/http/pipelining.ts';

const MESSAGES = { full: 'full, retry later', madeRoom: 'closed to make room' };

interface Harness {
  cap: ConnectionCap;
  /** Admissions in arrival order, with the server side of each connection. */
  admitted: { admission: Admission; socket: net.Socket }[];
  port: number;
  close(): Promise<void>;
}

const harnesses: Harness[] = [];
const clients: net.Socket[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const harness of harnesses.splice(0)) await harness.close();
});

async function listen(max: number, waitedMs = 60_000): Promise<Harness> {
  const cap = new ConnectionCap(max, waitedMs, MESSAGES);
  const admitted: Harness['admitted'] = [];
  const server = net.createServer((socket) => admitted.push({ admission: cap.opened(socket, Date.now()), socket }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const harness: Harness = {
    cap,
    admitted,
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const { socket } of admitted) socket.destroy();
        server.close(() => resolve());
      }),
  };
  harnesses.push(harness);
  return harness;
}

/** A client connection, its received bytes and whether the server closed it. */
async function connect(harness: Harness, count: number): Promise<{ socket: net.Socket; received: () => string; ended: Promise<void> }> {
  const socket = net.connect(harness.port, '127.0.0.1');
  clients.push(socket);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  await until(() => harness.admitted.length === count);
  return { socket, received: () => text, ended };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('ConnectionCap', () => {
  it('at the cap closes the oldest connection that sent nothing with a 503, and keeps the newcomer', async () => {
    const harness = await listen(2);
    const first = await connect(harness, 1);
    const second = await connect(harness, 2);
    const third = await connect(harness, 3);
    expect(harness.admitted.map((a) => a.admission)).toEqual(['admitted', 'admitted', 'made_room']);
    await first.ended;
    expect(first.received()).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(first.received()).toContain('retry-after: 1\r\n');
    expect(first.received()).toContain('{"error":"closed to make room"}');
    expect(harness.cap.isClosing(harness.admitted[0].socket)).toBe(true);
    expect(harness.cap.open.size).toBe(2);
    expect(second.socket.destroyed).toBe(false);
    expect(third.socket.destroyed).toBe(false);
  });

  it('never closes a serving connection: a newcomer over the cap is refused instead', async () => {
    const harness = await listen(2);
    await connect(harness, 1);
    await connect(harness, 2);
    for (const { socket } of harness.admitted) harness.cap.requested(socket);
    const newcomer = await connect(harness, 3);
    expect(harness.admitted[2].admission).toBe('refused');
    await newcomer.ended;
    expect(newcomer.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(newcomer.received()).toContain('{"error":"full, retry later"}');
    expect(harness.cap.isClosing(harness.admitted[2].socket)).toBe(true);
    expect(harness.cap.isClosing(harness.admitted[0].socket)).toBe(false);
    await until(() => harness.cap.open.size === 2);
  });

  it('prefers a silent connection to an older one that sent bytes but no request', async () => {
    const harness = await listen(2);
    const talker = await connect(harness, 1);
    talker.socket.write('GET / HTT');
    await until(() => harness.admitted[0].socket.bytesRead > 0);
    const silent = await connect(harness, 2);
    const third = await connect(harness, 3);
    await connect(harness, 4);
    expect(harness.admitted.map((a) => a.admission)).toEqual(['admitted', 'admitted', 'made_room', 'made_room']);
    await silent.ended;
    await third.ended;
    expect(talker.socket.destroyed).toBe(false);
  });

  it('closes one that sent bytes but no request only once it waited waitedMs', async () => {
    for (const [waitedMs, expected] of [
      [60_000, 'refused'],
      [0, 'made_room'],
    ] as const) {
      const harness = await listen(2, waitedMs);
      const talker = await connect(harness, 1);
      talker.socket.write('GET / HTT');
      await until(() => harness.admitted[0].socket.bytesRead > 0);
      await connect(harness, 2);
      harness.cap.requested(harness.admitted[1].socket);
      const newcomer = await connect(harness, 3);
      expect(harness.admitted[2].admission).toBe(expected);
      await (expected === 'refused' ? newcomer.ended : talker.ended);
      expect((expected === 'refused' ? newcomer : talker).received()).toMatch(/^HTTP\/1\.1 503 /);
    }
  });

  it('a closed connection leaves the cap', async () => {
    const harness = await listen(1);
    const first = await connect(harness, 1);
    first.socket.destroy();
    await until(() => harness.cap.open.size === 0);
    await connect(harness, 2);
    expect(harness.admitted[1].admission).toBe('admitted');
  });

  it('counts TLS handshakes toward the cap and destroys one evicted without an answer', async () => {
    const cap = new ConnectionCap(1, 60_000, MESSAGES);
    const admissions: Admission[] = [];
    const server = net.createServer((raw) => admissions.push(cap.handshakeStarted(raw, Date.now())));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    harnesses.push({ cap, admitted: [], port: 0, close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const port = (server.address() as net.AddressInfo).port;
    const first = net.connect(port, '127.0.0.1');
    const second = net.connect(port, '127.0.0.1');
    clients.push(first, second);
    let firstBytes = 0;
    first.on('data', (chunk: Buffer) => (firstBytes += chunk.length));
    first.on('error', () => {});
    const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    await new Promise<void>((resolve) => first.once('connect', () => resolve()));
    await until(() => admissions.length === 1);
    await new Promise<void>((resolve) => second.once('connect', () => resolve()));
    await until(() => admissions.length === 2);
    expect(admissions).toEqual(['admitted', 'made_room']);
    await firstClosed;
    expect(firstBytes).toBe(0);
    expect(second.destroyed).toBe(false);
  });
});

describe('answerConnect', () => {
  it('answers 405 with the methods served, then closes', async () => {
    const harness = await listen(4);
    const client = await connect(harness, 1);
    expect(answerConnect(harness.admitted[0].socket, 'GET, HEAD')).toBe(true);
    await client.ended;
    expect(client.received()).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(client.received()).toContain('allow: GET, HEAD\r\n');
  });

  it('behind a request still in flight only closes: a 405 would come before that request\'s answer', async () => {
    const harness = await listen(4);
    const client = await connect(harness, 1);
    requestArrived(harness.admitted[0].socket);
    expect(answerConnect(harness.admitted[0].socket, 'GET, HEAD')).toBe(false);
    await client.ended;
    expect(client.received()).toBe('');
  });
});
