/**
 * HTTPS and mTLS on the data port, with a CA and certificates made by `openssl` here:
 * the same endpoints over TLS, a client without a certificate refused in the handshake,
 * a certificate subject standing for a tenant, and the certificate reloaded on SIGHUP
 * while an open connection keeps working.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitForSample } from '../support/admin-scrape.ts';
import { consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { waitFor } from '../support/wait-for.ts';
import { makePki, metricsBody, request, writeAuthFile, type Pki } from './helpers.ts';

let gateway: GatewayProcess | undefined;
afterEach(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
  gateway = undefined;
});

let pki: Pki;
beforeAll(async () => {
  pki = makePki(await tempDir('metricstream-pki-'));
});

describe('TLS on the data port', () => {
  it('serves the endpoints over HTTPS with the same answers; a client that does not trust the CA cannot connect', async () => {
    const dataDir = await tempDir();
    gateway = await startGateway(['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--workers', '2', '--data-dir', dataDir]);
    expect(gateway.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('listening on https://'))).toBe(true);
    const ca = readFileSync(pki.caCert);
    const r = await request(gateway.port, { tls: { ca }, headers: { authorization: 'client-a' }, body: metricsBody(3) });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ accepted: 3 });
    expect((await request(gateway.port, { tls: { ca }, method: 'GET', path: '/healthz' })).status).toBe(200);
    await expect(request(gateway.port, { tls: {}, headers: { authorization: 'client-a' }, body: metricsBody(1) })).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    await gateway.stop('SIGTERM');
    expect((await consumeAll(dataDir)).map((x) => x.key)).toEqual(['client-a']);
  });

  it('mTLS: no client certificate, no connection; a mapped certificate subject authenticates its tenant; a token still works', async () => {
    const dir = await tempDir();
    const authFile = writeAuthFile(path.join(dir, 'auth.json'), { acme: { certSubjects: ['CN=acme-agent'] }, globex: { tokens: ['globex-token'] } });
    const dataDir = path.join(dir, 'data');
    gateway = await startGateway([
      '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-client-ca', pki.caCert,
      '--auth', 'tokens', '--auth-file', authFile, '--workers', '1', '--data-dir', dataDir,
    ]);
    const ca = readFileSync(pki.caCert);
    // Without a client certificate the handshake fails: no HTTP request is ever read.
    await expect(request(gateway.port, { tls: { ca }, headers: { authorization: 'Bearer globex-token' }, body: metricsBody(1) })).rejects.toThrow();
    const [acmeCert, acmeKey] = pki.client('acme-agent');
    const [strangerCert, strangerKey] = pki.client('stranger');
    const acme = { ca, cert: readFileSync(acmeCert), key: readFileSync(acmeKey) };
    const stranger = { ca, cert: readFileSync(strangerCert), key: readFileSync(strangerKey) };
    expect((await request(gateway.port, { tls: acme, body: metricsBody(1) })).status).toBe(200);
    const unmapped = await request(gateway.port, { tls: stranger, body: metricsBody(1) });
    expect(unmapped.status).toBe(401);
    expect(unmapped.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    expect((await request(gateway.port, { tls: stranger, headers: { authorization: 'Bearer globex-token' }, body: metricsBody(1) })).status).toBe(200);
    await gateway.stop('SIGTERM');
    expect((await consumeAll(dataDir)).map((x) => x.key).sort()).toEqual(['acme', 'globex']);
  });

  it('SIGHUP reloads the certificate: new connections get the new one, an open connection keeps working', async () => {
    const dir = await tempDir();
    const cert = path.join(dir, 'server.pem');
    const key = path.join(dir, 'server.key');
    pki.renewServer(cert, key);
    gateway = await startGateway(['--tls-cert', cert, '--tls-key', key, '--workers', '2', '--data-dir', path.join(dir, 'data')]);
    const ca = readFileSync(pki.caCert);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    const post = (tls: https.RequestOptions) => request(gateway!.port, { tls, headers: { authorization: 'c' }, body: metricsBody(1) });
    const before = await post({ agent } as https.RequestOptions);
    expect(before.status).toBe(200);

    pki.renewServer(cert, key);
    gateway.proc.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!gateway.logs.some((l) => l.msg === 'reload (SIGHUP)') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(gateway.logs.find((l) => l.msg === 'reload (SIGHUP)')).toMatchObject({ tls: 'reloaded', auth: 'none' });

    // The kept-alive connection still answers, with the certificate of its handshake.
    const reused = await post({ agent } as https.RequestOptions);
    expect(reused.status).toBe(200);
    expect(reused.serverSerial).toBe(before.serverSerial);
    // Fresh connections (to either worker) present the new certificate.
    for (let i = 0; i < 4; i++) {
      const fresh = await post({ ca, agent: false } as https.RequestOptions);
      expect(fresh.status).toBe(200);
      expect(fresh.serverSerial).not.toBe(before.serverSerial);
    }
    agent.destroy();
  });
});

describe('connections that never start their TLS handshake', () => {
  it('count toward --max-connections, are closed after --body-timeout, and leave room for clients that do', async () => {
    const dataDir = await tempDir();
    gateway = await startGateway([
      '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--workers', '1', '--data-dir', dataDir,
      '--max-connections', '8', '--body-timeout', '2s', '--admin-port', '0',
    ]);
    let closed = 0;
    const idle = Array.from({ length: 16 }, () => {
      const socket = net.connect(gateway!.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.on('close', () => closed++);
      return socket;
    });
    // Not one byte sent: no ClientHello. Those over the cap are closed at once (they were
    // each held for Node's 120 s handshake timeout, none counted), the rest at --body-timeout.
    await waitFor('the idle connections over --max-connections closed', () => closed >= idle.length - 8);
    await waitFor('every idle connection closed', () => closed === idle.length);
    await waitForSample(gateway, 'metricstream_requests_rejected_total{reason="slow_handshake"}', 8);
    await waitForSample(gateway, 'metricstream_requests_rejected_total{reason="too_many_connections"}', 8);
    // A client that does its handshake is served.
    const ca = readFileSync(pki.caCert);
    expect((await request(gateway.port, { tls: { ca }, headers: { authorization: 'after-idle' }, body: metricsBody(1) })).status).toBe(200);
    await gateway.stop('SIGTERM');
    expect((await consumeAll(dataDir)).map((x) => x.key)).toEqual(['after-idle']);
  });

  it('at the cap, the oldest of them that sent nothing makes room for a client that does its handshake', async () => {
    gateway = await startGateway([
      '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--workers', '1', '--data-dir', await tempDir(),
      '--max-connections', '8', '--body-timeout', '30s', '--admin-port', '0',
    ]);
    const idle = Array.from({ length: 8 }, () => net.connect(gateway!.port, '127.0.0.1').on('error', () => {}));
    await Promise.all(idle.map((s) => new Promise((resolve) => s.once('connect', resolve))));
    // However young: a client sends its ClientHello as soon as it connects.
    const ca = readFileSync(pki.caCert);
    expect((await request(gateway.port, { tls: { ca }, headers: { authorization: 'newcomer' }, body: metricsBody(1) })).status).toBe(200);
    await waitFor('the oldest idle connection closed', () => idle[0]!.destroyed || idle[0]!.readyState === 'closed');
    for (const s of idle) s.destroy();
  });
});
