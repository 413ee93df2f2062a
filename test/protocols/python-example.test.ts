/**
 * The README's Python consumer (examples/python/read_log.py, standard library only) reads
 * the log the gateway wrote and prints the same metrics as the project's own consumer, for
 * msgpack values (its fallback decoder: no msgpack module here) and JSON values.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { compressSync } from 'snappy';
import { describe, expect, it } from 'vitest';
import { consumeAll, ROOT, startGateway, tempDir } from '../support/gateway-process.ts';
import { encode, ExportMetricsServiceRequest, rwSeries, WriteRequest } from '../support/protos.ts';

const run = promisify(execFile);

describe('examples/python/read_log.py', () => {
  for (const format of ['msgpack', 'json']) {
    it(`prints what the consumer reads (--value-format ${format})`, async () => {
      const dir = await tempDir();
      const gw = await startGateway(['--workers', '1', '--data-dir', dir, '--value-format', format]);
      try {
        const post = (path: string, body: Uint8Array | string, type: string) =>
          fetch(`http://127.0.0.1:${gw.port}${path}`, { method: 'POST', headers: { authorization: 'Bearer py', 'content-type': type }, body }).then((r) => r.status);
        expect(await post('/api/v1/write', compressSync(encode(WriteRequest, { timeseries: [rwSeries({ __name__: 'up', job: 'é' }, [[NaN, 1_700_000_000_000], [1e300, -5]])] })), 'application/x-protobuf')).toBe(204);
        expect(await post('/write', 'cpu,host=a v=1.5,n=-70000i 1700000000123456789', 'text/plain')).toBe(204);
        const otlp = encode(ExportMetricsServiceRequest, {
          resource_metrics: [{ scope_metrics: [{ metrics: [{ name: 'sizes', exponential_histogram: { aggregation_temporality: 2, data_points: [{ time_unix_nano: '1700000000000000000', count: 3, sum: 7.5, scale: 1, positive: { offset: 2, bucket_counts: [1, 2] } }] } }] }] }],
        });
        expect(await post('/v1/metrics', otlp, 'application/x-protobuf')).toBe(200);
      } finally {
        await gw.stop();
      }
      const { stdout } = await run('python3', ['examples/python/read_log.py', dir], { cwd: ROOT });
      const py = stdout.trim().split('\n').map((l) => JSON.parse(l) as { partition: number; offset: number; key: string; timestamp: number; metrics: unknown[] });
      const js = await consumeAll(dir);
      const view = (rows: { partition: number; offset: number; key: string; timestamp: number; metrics: unknown }[]) =>
        rows.map((r) => ({ partition: r.partition, offset: r.offset, key: r.key, timestamp: r.timestamp, metrics: r.metrics })).sort((a, b) => a.partition - b.partition || a.offset - b.offset);
      // The consumer prints NaN as "NaN" too (the JSON value format's convention).
      const jsRows = JSON.parse(JSON.stringify(js.map((l) => ({ ...l, metrics: l.value.metrics })), (_k, v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v)));
      expect(view(py)).toEqual(view(jsRows));
      expect(py.length).toBe(3);
      expect(JSON.stringify(py)).toContain('"NaN"');
    });
  }
});
