import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPortOf, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { scrapeAdmin } from '../support/admin-scrape.ts';

let gateway: GatewayProcess;
let text: string;

beforeAll(async () => {
  gateway = await startGateway(['--workers', '2', '--data-dir', await tempDir(), '--admin-port', '0']);
  for (let i = 0; i < 3; i++) expect((await postMetrics(gateway.port, `m${i}`, { metrics: [{ name: 'a', value: i }] })).status).toBe(200);
  expect((await postMetrics(gateway.port, 'm', '{oops')).status).toBe(400);
  expect((await postMetrics(gateway.port, undefined, { metrics: [] })).status).toBe(401);
  const adminPort = adminPortOf(gateway);
  text = await scrapeAdmin(adminPort);
});
afterAll(async () => {
  await gateway.stop();
});

function value(line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  if (found === undefined) throw new Error(`no sample ${line} in:\n${text}`);
  return Number(found.slice(line.length + 1));
}

describe('Prometheus metrics on the admin port', () => {
  it('names the process metrics metricstream_process_* and metricstream_nodejs_* (one prefix, not two)', () => {
    expect(text).toMatch(/^metricstream_process_cpu_seconds_total /m);
    expect(text).toMatch(/^metricstream_process_resident_memory_bytes /m);
    expect(text).toMatch(/^metricstream_nodejs_eventloop_lag_seconds /m);
    expect(text).not.toContain('metricstream_process_process_');
    expect(text).not.toContain('metricstream_process_nodejs_');
  });

  it('passes promtool check metrics', () => {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (check.error) throw new Error(`promtool missing (install Debian's prometheus package: .ci/install-debian-packages): ${check.error.message}`);
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('counts requests by status, rejections by reason, and durable records, from worker shared memory', () => {
    expect(value('metricstream_http_requests_total{status="200"}')).toBe(3);
    expect(value('metricstream_http_requests_total{status="400"}')).toBe(1);
    expect(value('metricstream_http_requests_total{status="401"}')).toBe(1);
    expect(value('metricstream_requests_rejected_total{reason="bad_body"}')).toBe(1);
    expect(value('metricstream_requests_rejected_total{reason="no_client_id"}')).toBe(1);
    expect(value('metricstream_http_request_duration_seconds_count')).toBe(5);
    expect(value('metricstream_records_durable_total{sink="log"}')).toBe(3);
    expect(value('metricstream_commit_batch_records_count{sink="log"}')).toBeGreaterThanOrEqual(1);
    expect(value('metricstream_ring_records_total{worker="0"}') + value('metricstream_ring_records_total{worker="1"}')).toBe(3);
    expect(value('metricstream_ring_full_total{worker="0"}')).toBe(0);
    expect(value('metricstream_sink_ready{sink="log"}')).toBe(1);
    // Scraped right after the requests: no worker has been quiet for 10 s yet.
    expect(value('metricstream_worker_heap_releases_total')).toBe(0);
  });
});

describe('per-worker memory on the admin port', () => {
  it("reports each HTTP worker's own V8 heap, apart from the owner thread's", () => {
    const owner = value('metricstream_nodejs_heap_size_used_bytes');
    for (const worker of ['0', '1']) {
      const used = value(`metricstream_worker_heap_used_bytes{worker="${worker}"}`);
      const total = value(`metricstream_worker_heap_total_bytes{worker="${worker}"}`);
      // A started worker holds some MB of its own (its modules), never more than V8 reserved.
      expect(used).toBeGreaterThan(1 << 20);
      expect(used).toBeLessThanOrEqual(total);
      expect(used).not.toBe(owner);
      expect(value(`metricstream_worker_external_memory_bytes{worker="${worker}"}`)).toBeGreaterThan(0);
    }
    expect(text).not.toMatch(/metricstream_worker_heap_used_bytes\{worker="2"\}/);
  });
});
