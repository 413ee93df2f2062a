/**
 * Tokens mode end to end (the gateway as a child process, real HTTP, the real log):
 * who may write, under which key, how fast, and a SIGHUP reload under load.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminPortOf, consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { basic, metricsBody, request, writeAuthFile } from './helpers.ts';
import { sampleOf, scrapeAdmin } from '../support/admin-scrape.ts';

let gateway: GatewayProcess | undefined;
afterEach(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
  gateway = undefined;
});


/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

const waitFor = async (what: string, check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('--auth tokens', () => {
  it('Bearer and Basic authenticate; missing, unknown and raw credentials get one 401 and store nothing; the key is the tenant id', async () => {
    const dir = await tempDir();
    const authFile = writeAuthFile(path.join(dir, 'auth.json'), { acme: { tokens: ['acme-secret-token'] }, globex: { tokens: ['globex-secret-token'] } });
    const dataDir = path.join(dir, 'data');
    gateway = await startGateway(['--auth', 'tokens', '--auth-file', authFile, '--workers', '2', '--partitions', '2', '--data-dir', dataDir]);
    const port = gateway.port;
    const post = (authorization?: string) => request(port, { headers: authorization === undefined ? {} : { authorization }, body: metricsBody(2) });

    const accepted = [
      await post('Bearer acme-secret-token'),
      await post(basic('acme', 'acme-secret-token')),
      // The Basic user name is ignored: naming another tenant does not make acme write as it.
      await post(basic('globex', 'acme-secret-token')),
      await post('Bearer globex-secret-token'),
    ];
    for (const r of accepted) expect(r.status, r.body).toBe(200);

    const refused = [
      await post(undefined),
      await post('Bearer wrong-token'),
      await post('Bearer acme'), // a tenant id is not a credential
      await post('acme-secret-token'), // a raw value is a client id, not a token
      await post('Basic !!!'),
      await post(basic('acme', '')),
    ];
    for (const r of refused) {
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="metricstream", Basic realm="metricstream"');
      expect(JSON.parse(r.body)).toEqual({ error: 'missing or invalid credentials' });
    }
    // Health checks stay open (load balancers probe without credentials).
    expect((await request(port, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect(await gateway.stop('SIGTERM')).toBe(0);

    const stored = await consumeAll(dataDir);
    expect(stored.map((r) => r.key).sort()).toEqual(['acme', 'acme', 'acme', 'globex']);
    // No token ever reaches the disk, as a key or anywhere else.
    for (const file of filesUnder(dataDir)) expect(readFileSync(file).includes('secret-token'), file).toBe(false);
  });

  it('a tenant past its rate gets 429 with Retry-After while another is unaffected, and recovers; per-tenant counters on /metrics', async () => {
    const dir = await tempDir();
    const authFile = writeAuthFile(
      path.join(dir, 'auth.json'),
      {
        acme: { tokens: ['acme-token'], limits: { samplesPerSecond: 20 } },
        initech: { tokens: ['initech-token'], limits: { samplesPerSecond: 0, bytesPerSecond: 60 } },
        globex: { tokens: ['globex-token'], limits: { samplesPerSecond: 0 } },
      },
      { samplesPerSecond: 1000, burstSeconds: 1 },
    );
    gateway = await startGateway(['--auth', 'tokens', '--auth-file', authFile, '--workers', '2', '--data-dir', path.join(dir, 'data'), '--admin-port', '0']);
    const port = gateway.port;
    const post = (token: string, n = 10) => request(port, { headers: { authorization: `Bearer ${token}` }, body: metricsBody(n) });

    // acme: 20 samples/s with a 1 s burst: two requests of 10, then 429.
    expect((await post('acme-token')).status).toBe(200);
    expect((await post('acme-token')).status).toBe(200);
    const throttled = await post('acme-token');
    expect(throttled.status).toBe(429);
    expect(JSON.parse(throttled.body).error).toMatch(/rate limit/);
    const retryAfter = Number(throttled.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // globex (unlimited) is unaffected meanwhile.
    for (let i = 0; i < 5; i++) expect((await post('globex-token', 100)).status).toBe(200);
    // initech is limited in bytes: the first request passes into a full bucket, the next waits.
    expect((await post('initech-token', 5)).status).toBe(200);
    expect((await post('initech-token', 5)).status).toBe(429);
    // acme recovers once the Retry-After has passed.
    await new Promise((r) => setTimeout(r, retryAfter * 1000));
    expect((await post('acme-token')).status).toBe(200);

    const text = await scrapeAdmin(adminPortOf(gateway));
    expect(sampleOf(text, 'metricstream_tenant_requests_total{tenant="acme",outcome="accepted"}')).toBe(3);
    expect(sampleOf(text, 'metricstream_tenant_requests_total{tenant="acme",outcome="throttled"}')).toBe(1);
    expect(sampleOf(text, 'metricstream_tenant_samples_total{tenant="acme",outcome="accepted"}')).toBe(30);
    expect(sampleOf(text, 'metricstream_tenant_samples_total{tenant="acme",outcome="throttled"}')).toBe(10);
    expect(sampleOf(text, 'metricstream_tenant_requests_total{tenant="globex",outcome="accepted"}')).toBe(5);
    expect(sampleOf(text, 'metricstream_tenant_requests_total{tenant="initech",outcome="throttled"}')).toBe(1);
    expect(sampleOf(text, 'metricstream_requests_rejected_total{reason="throttled"}')).toBe(2);
    expect(sampleOf(text, 'metricstream_http_requests_total{status="429"}')).toBe(2);
    expect(text).not.toMatch(/tenant="(?!acme|globex|initech)/);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (check.error) throw new Error(`promtool missing (.ci/install-debian-packages): ${check.error.message}`);
    expect(check.stdout + check.stderr).toBe('');
  });

  it('SIGHUP reloads the auth file under load: no request fails, a removed token stops working, a new one works, an invalid file is refused', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'auth.json');
    writeAuthFile(file, { acme: { tokens: ['acme-old'] }, globex: { tokens: ['globex-token'] } });
    const dataDir = path.join(dir, 'data');
    gateway = await startGateway(['--auth', 'tokens', '--auth-file', file, '--workers', '2', '--partitions', '2', '--data-dir', dataDir]);
    const port = gateway.port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const statuses: number[] = [];
    let stop = false;
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          statuses.push((await request(port, { agent, headers: { authorization: 'Bearer globex-token' }, body: metricsBody(1) })).status);
        } catch {
          statuses.push(-1);
        }
      }
    });
    const reloads = () => gateway!.logs.filter((l) => l.msg === 'reload (SIGHUP)').length;
    await waitFor('some load', () => statuses.length >= 50);

    writeAuthFile(file, { acme: { tokens: ['acme-new'] }, globex: { tokens: ['globex-token'] } });
    gateway.proc.kill('SIGHUP');
    await waitFor('the reload', () => reloads() === 1);
    expect(gateway.logs.find((l) => l.msg === 'reload (SIGHUP)')).toMatchObject({ auth: 'reloaded', tenants: 2 });
    // The reload line is logged once every worker applied the new table.
    const probe = (token: string) => request(port, { headers: { authorization: `Bearer ${token}` }, body: metricsBody(1) });
    for (let i = 0; i < 6; i++) {
      expect((await probe('acme-old')).status).toBe(401);
      expect((await probe('acme-new')).status).toBe(200);
    }

    writeFileSync(file, '{"tenants": {"acme": {"tokens": ["plaintext-token"]}}}');
    gateway.proc.kill('SIGHUP');
    await waitFor('the second reload', () => reloads() === 2);
    expect(gateway.logs.find((l) => l.msg === 'auth file not reloaded: keeping the running table')).toBeDefined();
    expect((await probe('acme-new')).status).toBe(200);
    await waitFor('more load after the reloads', () => statuses.length >= 150);

    stop = true;
    await Promise.all(clients);
    agent.destroy();
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(await gateway.stop('SIGTERM')).toBe(0);
    const stored = await consumeAll(dataDir);
    expect(stored.length).toBe(statuses.length + 7);
    expect(new Set(stored.map((r) => r.key))).toEqual(new Set(['globex', 'acme']));
  });
});

describe('--auth client-id (the seed)', () => {
  it('warns on stderr when listening beyond loopback, not on 127.0.0.1', async () => {
    const dir = await tempDir();
    gateway = await startGateway(['--host', '0.0.0.0', '--workers', '1', '--data-dir', dir]);
    expect(gateway.stderr.join('\n')).toMatch(/WARNING: --auth client-id on 0\.0\.0\.0: .*anyone who can reach this port can write as any client id/);
    // Bearer <id> names the client; the scheme is not part of the key.
    const r = await request(gateway.port, { headers: { authorization: 'Bearer host-7' }, body: metricsBody(1) });
    expect(r.status).toBe(200);
    await gateway.stop('SIGTERM');
    expect((await consumeAll(dir)).map((x) => x.key)).toEqual(['host-7']);

    gateway = await startGateway(['--workers', '1', '--data-dir', await tempDir()]);
    expect(gateway.stderr.join('\n')).not.toMatch(/WARNING/);
  });
});
