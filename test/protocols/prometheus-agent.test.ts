/**
 * The real Prometheus server (Debian 2.42: remote_write 1.0 only) scrapes a target and
 * remote-writes to the gateway. Every sample Prometheus stored is found in the log with
 * its labels, timestamp and value; after a kill -9 of the gateway mid-stream and a
 * restart on the same port, Prometheus' retries deliver everything it scraped meanwhile,
 * and no sample is missing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { freePort, prometheusSamples, startPrometheus, scrapeConfigYaml, startScrapeTarget, waitFor, type AgentProcess } from '../support/agents.ts';

type Stored = Map<string, number>;

/** Every entry in the log as "name{sorted tags}@ts" -> value. */
async function logged(dir: string): Promise<Stored> {
  const out: Stored = new Map();
  for (const line of await consumeAll(dir)) {
    for (const m of line.value.metrics) out.set(sampleKey(m.name, m.tags ?? {}, m.timestamp!), m.value);
  }
  return out;
}

function sampleKey(name: string, tags: Record<string, string>, ts: number): string {
  const labels = Object.keys(tags)
    .sort()
    .map((k) => `${k}=${JSON.stringify(tags[k])}`)
    .join(',');
  return `${name}{${labels}}@${ts}`;
}

/** Prometheus' own samples of the job: what it must have sent. */
async function scraped(promPort: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const series of await prometheusSamples(promPort, '{job="target"}')) {
    const { __name__: name, ...tags } = series.metric;
    for (const [t, v] of series.values) out.set(sampleKey(name!, tags, Math.round(t * 1000)), Number(v));
  }
  return out;
}

function missing(expected: Map<string, number>, stored: Stored): string[] {
  const out: string[] = [];
  for (const [k, v] of expected) {
    const got = stored.get(k);
    if (got === undefined || !(got === v || (Number.isNaN(got) && Number.isNaN(v)))) out.push(`${k}=${v} (log: ${got})`);
  }
  return out;
}

describe('Prometheus remote_write into the gateway', () => {
  const stops: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  });

  it('delivers every scraped sample with labels and timestamps, across a kill -9 of the gateway', async () => {
    const dir = await tempDir();
    const gwPort = await freePort();
    const gwArgs = ['--workers', '1', '--data-dir', dir, '--port', String(gwPort)];
    let gw: GatewayProcess = await startGateway(gwArgs);
    stops.push(() => gw.stop());
    const target = await startScrapeTarget();
    stops.push(() => target.close());
    const prom: AgentProcess & { port: number } = await startPrometheus(
      await tempDir('prometheus-'),
      `${scrapeConfigYaml(target.port)}remote_write:
  - url: http://127.0.0.1:${gwPort}/api/v1/write
    authorization:
      credentials: prometheus-1
    remote_timeout: 5s
    queue_config:
      batch_send_deadline: 500ms
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send_interval: 2s
`,
    );
    stops.push(() => prom.stop());

    // Phase 1: a few scrapes, all of them in the log.
    await waitFor('5 scrapes', () => target.scrapes() >= 5, 20_000);
    let expected = await scraped(prom.port);
    expect(expected.size).toBeGreaterThan(20);
    await waitFor('every scraped sample in the log', async () => missing(expected, await logged(dir)).length === 0, 20_000, 500);
    const first = await consumeAll(dir);
    expect(new Set(first.map((l) => l.key))).toEqual(new Set(['prometheus-1']));
    const entry = first.flatMap((l) => l.value.metrics).find((m) => m.name === 'demo_requests_total' && m.tags?.code === '500');
    expect(entry).toMatchObject({ tags: { code: '500', path: '/é', job: 'target', instance: `127.0.0.1:${target.port}` } });

    // Phase 2: kill -9 mid-stream, 3 s down while Prometheus keeps scraping, restart.
    await gw.stop('SIGKILL');
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const upAt = Date.now();
    gw = await startGateway(gwArgs);
    await waitFor('2 more scrapes', () => target.scrapes() >= 5 + 6, 20_000);
    expected = await scraped(prom.port);
    const lastStored = await (async () => {
      let gaps: string[] = [];
      await waitFor(
        'every scraped sample in the log after the restart',
        async () => {
          gaps = missing(expected, await logged(dir));
          return gaps.length === 0;
        },
        30_000,
        500,
      ).catch(() => {
        throw new Error(`missing after restart (${gaps.length}): ${gaps.slice(0, 5).join('; ')}`);
      });
      return logged(dir);
    })();
    // Samples scraped while the gateway was down arrived through Prometheus' retries.
    const during = [...lastStored.keys()].filter((k) => {
      const ts = Number(k.slice(k.lastIndexOf('@') + 1));
      return ts > downAt + 500 && ts < upAt - 500;
    });
    expect(during.length).toBeGreaterThan(0);
  }, 120_000);
});
