/**
 * Issue 9, overload and connections: the bytes a worker holds are bounded (503 +
 * Retry-After at once past --max-inflight-bytes), connections per worker are capped
 * (503 and close, counted), idle and trickling connections get 408 and their socket is
 * really closed (the descriptor is released even when the client never closes), the
 * admin endpoint collects at most once a second on 127.0.0.1, and a --max-body the log
 * cannot frame is refused at start-up.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPortOf, spawnNode, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { parseAnswer, rawRequest } from '../support/raw-http.ts';
import { waitFor } from '../support/wait-for.ts';
import { sampleOf, scrapeAdmin } from '../support/admin-scrape.ts';

let gateway: GatewayProcess;
let adminPort: number;

beforeAll(async () => {
  gateway = await startGateway([
    '--workers', '1', '--data-dir', await tempDir(), '--admin-port', '0',
    '--max-body', '64kb', '--max-inflight-bytes', '256kb', '--max-connections', '8', '--body-timeout', '2s',
  ]);
  adminPort = adminPortOf(gateway);
});
afterAll(async () => {
  if (gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

const good = JSON.stringify({ metrics: [{ name: 'cpu', value: 1 }] });

/** A connected socket that collects what the server sends; never closes on its own. */
async function openSocket(): Promise<{ socket: net.Socket; received: () => string; ended: Promise<void> }> {
  const socket = net.connect({ port: gateway.port, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, received: () => text, ended };
}

/** Sockets the gateway process holds open (its descriptors pointing at sockets). */
function gatewaySockets(): number {
  const dir = `/proc/${gateway.proc.pid}/fd`;
  return readdirSync(dir).filter((fd) => {
    try {
      return readlinkSync(`${dir}/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
}


describe('bytes in flight are bounded per worker', () => {
  it('past --max-inflight-bytes a request is answered 503 + Retry-After at once; room comes back when bodies finish', async () => {
    // Four bodies of 60,000 declared bytes each, sent all but a few bytes: 240,000 of 262,144 held.
    const held = [];
    for (let i = 0; i < 4; i++) {
      const s = await openSocket();
      s.socket.write(`POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: slow${i}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"metrics":`);
      held.push(s);
    }
    await new Promise((r) => setTimeout(r, 200));
    const refused = await rawRequest(gateway.port, `POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: c\r\nContent-Type: application/json\r\nContent-Length: 30000`, '', 1500);
    expect(refused.statuses).toEqual([503]);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json?.error).toMatch(/too many request bytes in flight/);
    // A chunked body (no declared size) is cut off with 503 once it reaches the bound too.
    const chunk = 'x'.repeat(30_000);
    const chunked = await rawRequest(
      gateway.port,
      'POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: c\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked',
      `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
      1500,
    );
    expect(chunked.statuses).toEqual([503]);
    for (const s of held) s.socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const res = await fetch(`http://127.0.0.1:${gateway.port}/metrics`, { method: 'POST', headers: { authorization: 'after', 'content-type': 'application/json' }, body: good });
    expect(res.status).toBe(200);
    expect(sampleOf(await scrapeAdmin(adminPort), 'metricstream_requests_rejected_total{reason="overloaded"}')).toBe(2);
  });
});

describe('connections', () => {
  it('over --max-connections a newcomer takes the place of the oldest connection that sent nothing, or else gets 503 and is closed; counted and logged', async () => {
    await waitFor('earlier sockets to close', () => gatewaySockets() < 8, 10_000);
    const idle = [];
    for (let i = 0; i < 8; i++) idle.push(await openSocket());
    // Eight connections that sent nothing: a newcomer takes the place of the oldest at once
    // (it is answered 503 and closed), and the newcomer's request is served.
    const newcomer = await rawRequest(gateway.port, `POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: n\r\nContent-Type: application/json\r\nContent-Length: ${good.length}\r\nConnection: close`, good);
    expect(newcomer.statuses).toEqual([200]);
    await idle[0].ended;
    const evicted = parseAnswer(idle[0].received());
    expect(evicted.statuses).toEqual([503]);
    expect(evicted.json?.error).toMatch(/^closed to make room/);
    for (const s of idle) s.socket.destroy();

    // Eight keep-alive connections that were served: none to close, the newcomer gets 503.
    await waitFor('earlier sockets to close', () => gatewaySockets() < 8, 10_000);
    const served = [];
    for (let i = 0; i < 8; i++) {
      const s = await openSocket();
      s.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor('a health answer', () => s.received().includes('\r\n\r\n{'), 10_000);
      served.push(s);
    }
    const extra = await openSocket();
    await extra.ended;
    const answer = parseAnswer(extra.received());
    expect(answer.statuses).toEqual([503]);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.json?.error).toMatch(/--max-connections/);
    extra.socket.destroy();
    for (const s of served) s.socket.destroy();
    await waitFor('the warning', () => gateway.logs.some((l) => l.what === 'too_many_connections'), 10_000);
    await waitFor('the eviction warning', () => gateway.logs.some((l) => l.what === 'evicted_idle_connection'), 10_000);
    // /metrics is collected at most once a second: wait for a fresh collection.
    await new Promise((r) => setTimeout(r, 1100));
    expect(sampleOf(await scrapeAdmin(adminPort), 'metricstream_requests_rejected_total{reason="too_many_connections"}')).toBeGreaterThanOrEqual(2);
  });

  it('idle and trickling connections get 408 after --body-timeout and their descriptors are released', async () => {
    await waitFor('earlier sockets to close', () => gatewaySockets() <= 4, 10_000);
    const baseline = gatewaySockets();
    const idle = [];
    for (let i = 0; i < 5; i++) idle.push(await openSocket());
    const trickle = await openSocket();
    const request = 'POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: t\r\n';
    let sent = 0;
    const dribble = setInterval(() => {
      if (sent < request.length && !trickle.socket.destroyed) trickle.socket.write(request[sent++]);
    }, 200);
    await waitFor('the gateway to accept them', () => gatewaySockets() >= baseline + 6, 10_000);
    // None of these clients ever closes its side: the server must close the descriptor itself.
    await Promise.all([...idle, trickle].map((s) => s.ended));
    clearInterval(dribble);
    for (const s of [...idle, trickle]) expect(parseAnswer(s.received()).statuses).toEqual([408]);
    await waitFor('the descriptors of timed-out connections to be released', () => gatewaySockets() <= baseline, 10_000);
    for (const s of [...idle, trickle]) s.socket.destroy();
  });
});

describe('admin endpoint', () => {
  it('serves concurrent scrapes from one collection a second', async () => {
    const bodies = await Promise.all(Array.from({ length: 20 }, () => scrapeAdmin(adminPort)));
    const counts = new Set(bodies.map((b) => sampleOf(b, 'metricstream_admin_collections_total')));
    expect(counts.size).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(sampleOf(await scrapeAdmin(adminPort), 'metricstream_admin_collections_total')).toBe([...counts][0] + 1);
  });

  it('listens on 127.0.0.1 by default, while ingestion listens on --host', async () => {
    const other = await startGateway(['--workers', '1', '--data-dir', await tempDir(), '--admin-port', '0', '--host', '0.0.0.0']);
    try {
      const admin = adminPortOf(other);
      // Listening sockets from /proc/net/tcp (local address hex, port hex, state 0A = LISTEN).
      const listeners = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[3] === '0A').map((f) => f[1]);
      const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
      expect(listeners).toContain(`0100007F:${hex(admin)}`);
      expect(listeners).not.toContain(`00000000:${hex(admin)}`);
      expect(listeners).toContain(`00000000:${hex(other.port)}`);
    } finally {
      await other.stop('SIGKILL');
    }
  });
});

describe('start-up checks', () => {
  it('--max-body larger than the log can frame is refused with exit 2', async () => {
    const proc = spawnNode('src/main/cli.ts', ['--max-body', '17mb', '--data-dir', await tempDir()]);
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => proc.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--max-body 17825792 is over \d+ bytes, the largest record value the log can frame/);
  });
});
