/**
 * The real Prometheus (Debian 2.42) remote-writes to the gateway over HTTPS (a CA made by
 * openssl here, `tls_config.ca_file`) with a bearer token from the auth file: every
 * sample Prometheus scraped reaches the log under the tenant id. A second remote_write
 * queue with a wrong token is refused (401: Prometheus drops, never stores) and nothing
 * of it is stored.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { prometheusSamples, startPrometheus, scrapeConfigYaml, startScrapeTarget, waitFor } from '../support/agents.ts';
import { makePki, writeAuthFile } from './helpers.ts';

describe('Prometheus remote_write over HTTPS with a bearer token', () => {
  const stops: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  });

  it('stores every scraped sample under the tenant id; a wrong token stores nothing', async () => {
    const dir = await tempDir();
    const pki = makePki(dir);
    const authFile = writeAuthFile(path.join(dir, 'auth.json'), { 'prom-tenant': { tokens: ['prometheus-remote-write-token'] } });
    const dataDir = path.join(dir, 'data');
    const gw: GatewayProcess = await startGateway([
      '--auth', 'tokens', '--auth-file', authFile, '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey,
      '--workers', '1', '--data-dir', dataDir,
    ]);
    stops.push(() => gw.stop('SIGKILL'));
    const target = await startScrapeTarget();
    stops.push(() => target.close());
    const prom = await startPrometheus(
      await tempDir('prometheus-'),
      `${scrapeConfigYaml(target.port)}remote_write:
  - url: https://127.0.0.1:${gw.port}/api/v1/write
    name: good
    bearer_token: prometheus-remote-write-token
    tls_config:
      ca_file: ${pki.caCert}
    queue_config: { batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s }
  - url: https://127.0.0.1:${gw.port}/api/v1/write
    name: wrong
    authorization:
      credentials: not-the-token
    tls_config:
      ca_file: ${pki.caCert}
    queue_config: { batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s }
`,
    );
    stops.push(() => prom.stop());

    await waitFor('3 scrapes', () => target.scrapes() >= 3, 20_000);
    const scraped = async () => {
      const out = new Set<string>();
      for (const s of await prometheusSamples(prom.port, '{job="target"}')) for (const [t] of s.values) out.add(`${s.metric.__name__}@${Math.round(t * 1000)}`);
      return out;
    };
    const expected = await scraped();
    expect(expected.size).toBeGreaterThan(10);
    const stored = async () => {
      const lines = await consumeAll(dataDir);
      return { keys: new Set(lines.map((l) => l.key)), samples: new Set(lines.flatMap((l) => l.value.metrics.map((m) => `${m.name}@${m.timestamp}`))) };
    };
    await waitFor(
      'every scraped sample in the log',
      async () => {
        const { samples } = await stored();
        return [...expected].every((k) => samples.has(k));
      },
      30_000,
      500,
    );
    const { keys } = await stored();
    expect(keys).toEqual(new Set(['prom-tenant']));
    // The wrong-token queue got 401s: Prometheus logs them as non-recoverable.
    await waitFor('Prometheus reports the 401', () => /HTTP status 401/.test(prom.output.join('')), 20_000);
  });
});
