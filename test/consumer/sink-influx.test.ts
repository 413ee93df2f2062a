/**
 * The influx sink against a real InfluxDB 1.x: the gateway (child process) writes the
 * local log, a sink-mode consumer delivers it as line protocol to /write, and an InfluxQL
 * query returns every acknowledged point with its tags (escaped on the way), and the
 * consumer's /metrics passes promtool. A write the
 * store refuses for good (a field type conflict: 400 partial write) goes to the dead-letter
 * file, is counted, and the group moves on to later records.
 */
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postMetrics, startGateway, tempDir } from '../support/gateway-process.ts';
import type { GatewayProcess } from '../support/gateway-process.ts';
import { startInfluxDB } from '../support/stores.ts';
import type { InfluxDB } from '../support/stores.ts';
import { removeDir, waitFor } from './helpers.ts';
import { acknowledged, metricSum, SinkConsumerProcess, startSampleLoad } from './sink-support.ts';

let root: string;
let influx: InfluxDB;
let dir: string;
let gateway: GatewayProcess | null = null;
const members: SinkConsumerProcess[] = [];

beforeAll(async () => {
  root = await tempDir('metricstream-influx-');
  influx = await startInfluxDB(root);
  await influx.query('CREATE DATABASE metrics');
});
afterAll(async () => {
  await influx?.destroy();
  await removeDir(root);
});
afterEach(async () => {
  for (const m of members.splice(0)) {
    if (m.alive()) m.kill('SIGKILL');
    await m.exited;
  }
  await gateway?.stop('SIGKILL');
  gateway = null;
});

function influxMember(group: string): SinkConsumerProcess {
  const m = new SinkConsumerProcess([
    '--data-dir', dir, '--group', group, '--from-beginning', '--session-timeout', '1500ms',
    '--sink', 'influx', '--sink-url', `${influx.base}/write?db=metrics`, '--admin-port', '0',
  ]);
  members.push(m);
  return m;
}

/** Per client, the seqs InfluxDB holds for `measurement` (value = seq at t0 + seq). */
async function influxSeqs(measurement: string, t0: number): Promise<Map<string, Set<number>>> {
  const res = await influx.query(`SELECT "value", "client", "zone" FROM "${measurement}"`, 'metrics');
  const out = new Map<string, Set<number>>();
  for (const s of res.results[0].series ?? []) {
    const col = (n: string) => s.columns.indexOf(n);
    for (const row of s.values) {
      const client = row[col('client')] as string;
      expect(row[col('zone')]).toBe('eu west,1');
      const seq = row[col('value')] as number;
      if (row[col('time')] !== t0 + seq) continue;
      if (!out.has(client)) out.set(client, new Set());
      out.get(client)!.add(seq);
    }
  }
  return out;
}

describe('consumer group → line protocol → InfluxDB 1.x', () => {
  it('a query returns every acknowledged point with its tags', async () => {
    dir = await tempDir('metricstream-influx-points-');
    gateway = await startGateway(['--data-dir', dir, '--workers', '1']);
    const t0 = Date.now() - 3_600_000;
    const m = influxMember('influx-writers');
    const load = startSampleLoad(gateway.port, 'ix', 4, t0, 5);
    await waitFor('points in InfluxDB', async () => [...(await influxSeqs('load_test', t0)).values()].reduce((n, s) => n + s.size, 0) > 100, 30_000);
    const acked = acknowledged(await load.stop());
    await waitFor('every acknowledged point in InfluxDB', async () => {
      const stored = await influxSeqs('load_test', t0);
      return [...acked].every(([c, seqs]) => [...seqs].every((s) => stored.get(c)?.has(s)));
    }, 30_000);
    const text = await m.metrics();
    expect(metricSum(text, 'metricstream_consumer_samples_delivered_total')).toBeGreaterThan(0);
    // The consumer's /metrics passes Prometheus' own linter.
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (check.error) throw new Error(`promtool missing (.ci/install-debian-packages): ${check.error.message}`);
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('a 400 from the store sends the batch to the dead letter, counted, and the group moves on', async () => {
    dir = await tempDir('metricstream-influx-dead-');
    gateway = await startGateway(['--data-dir', dir, '--workers', '1']);
    // `conflict` exists as a string field (in the shard of t0): InfluxDB refuses float values for it for good.
    const t0 = Date.now() - 2 * 3_600_000;
    expect(await influx.write('metrics', `conflict value="text" ${t0 - 1}000000`)).toBe(204);
    const bad = await postMetrics(gateway.port, 'bad-client', { metrics: [{ name: 'conflict', value: 1.5, timestamp: t0 }] });
    expect(bad.status).toBe(200);
    const m = influxMember('influx-dead');
    await waitFor('the refused record counted as dead-lettered', async () =>
      metricSum(await m.metrics(), 'metricstream_consumer_dead_letter_records_total') === 1, 30_000);
    expect(metricSum(await m.metrics(), 'metricstream_consumer_sink_errors_total', 'kind="4xx"')).toBeGreaterThanOrEqual(1);
    expect(m.logged(/dead letter/).length).toBeGreaterThan(0);
    // The dead letter holds the record and the store's reason.
    const dlDir = path.join(dir, 'dead-letter', 'influx-dead');
    const files = await readdir(dlDir);
    const entries = (await Promise.all(files.map((f) => readFile(path.join(dlDir, f), 'utf8'))))
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { key: string; partition: number; offset: number; status: number; reason: string; value: { metrics: { name: string }[] } });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ key: 'bad-client', partition: bad.body.partition, offset: bad.body.offset, status: 400 });
    expect(entries[0].reason).toMatch(/field type conflict/);
    expect(entries[0].value.metrics[0].name).toBe('conflict');
    // The group moved on: later records are delivered and the lag drains.
    const load = startSampleLoad(gateway.port, 'after', 2, t0, 5, 'after_dead');
    await waitFor('later points in InfluxDB', async () => [...(await influxSeqs('after_dead', t0)).values()].reduce((n, s) => n + s.size, 0) > 20, 30_000);
    await load.stop();
    await waitFor('lag back to 0', async () => metricSum(await m.metrics(), 'metricstream_consumer_lag_records') === 0, 30_000);
  });
});
