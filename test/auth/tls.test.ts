/**
 * HTTPS and mTLS on the data port, with a CA and certificates made by `openssl` here:
 * the same endpoints over TLS, a client without a certificate refused in the handshake,
 * a certificate subject standing for a tenant, and the certificate reloaded on SIGHUP
 * while an open connection keeps working.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
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
