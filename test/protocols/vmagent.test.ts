/**
 * vmagent (Debian victoria-metrics) as a remote_write sender: it scrapes a target and
 * accepts line protocol on its own /write, and forwards both to the gateway's
 * /api/v1/write with its bearer token; both arrive in the log.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { consumeAll, startGateway, tempDir } from '../support/gateway-process.ts';
import { scrapeConfigYaml, startScrapeTarget, startVmagent, waitFor } from '../support/agents.ts';

interface Entry {
  name: string;
  value: number;
  timestamp: number;
  tags: Record<string, string>;
}

describe('vmagent remote_write into the gateway', () => {
  const stops: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  });

  it('forwards scraped samples and the line protocol it accepted', async () => {
    const dir = await tempDir();
    const gw = await startGateway(['--workers', '1', '--data-dir', dir]);
    stops.push(() => gw.stop());
    const target = await startScrapeTarget();
    stops.push(() => target.close());
    const work = await tempDir('vmagent-');
    const scrapeConfig = path.join(work, 'scrape.yml');
    await writeFile(scrapeConfig, scrapeConfigYaml(target.port));
    const vm = await startVmagent([
      `-remoteWrite.url=http://127.0.0.1:${gw.port}/api/v1/write`,
      '-remoteWrite.bearerToken=vmagent-1',
      `-remoteWrite.tmpDataPath=${path.join(work, 'queue')}`,
      '-remoteWrite.flushInterval=200ms',
      `-promscrape.config=${scrapeConfig}`,
    ]);
    stops.push(() => vm.stop());

    const lp = 'vm_lp,host=a,dc=eu usage=1.5,count=3i 1700000000000000000\nvm_lp,host=b usage=2 1700000001000000000\n';
    const res = await fetch(`http://127.0.0.1:${vm.port}/write`, { method: 'POST', body: lp });
    expect(res.status).toBe(204);

    let got: (Entry & { key: string })[] = [];
    await waitFor(
      'line protocol and scraped samples forwarded by vmagent',
      async () => {
        got = (await consumeAll(dir)).flatMap((l) => (l.value.metrics as Entry[]).map((m) => ({ key: l.key, ...m })));
        return got.some((m) => m.name === 'vm_lp_usage' && m.tags.host === 'b') && got.some((m) => m.name === 'demo_requests_total');
      },
      30_000,
      500,
    );
    expect(new Set(got.map((m) => m.key))).toEqual(new Set(['vmagent-1']));
    expect(got).toContainEqual({ key: 'vmagent-1', name: 'vm_lp_usage', value: 1.5, timestamp: 1_700_000_000_000, tags: { host: 'a', dc: 'eu' } });
    expect(got).toContainEqual({ key: 'vmagent-1', name: 'vm_lp_count', value: 3, timestamp: 1_700_000_000_000, tags: { host: 'a', dc: 'eu' } });
    expect(got).toContainEqual({ key: 'vmagent-1', name: 'vm_lp_usage', value: 2, timestamp: 1_700_000_001_000, tags: { host: 'b' } });
    const scraped = got.find((m) => m.name === 'demo_requests_total' && m.tags.code === '500')!;
    expect(scraped.tags).toMatchObject({ job: 'target', instance: `127.0.0.1:${target.port}`, path: '/é' });
  });
});
