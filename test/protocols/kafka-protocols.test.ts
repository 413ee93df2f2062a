/**
 * Protocol records through Kafka (librdkafka's mock cluster): remote_write, Influx and OTLP
 * requests stored in the record format, and with --value-format raw as the bodies with a
 * content-type header naming their protocol; the Kafka consumer decodes both alike.
 */
import { compressSync } from 'snappy';
import { describe, expect, it } from 'vitest';
import { startLocalBroker } from '../support/local-broker.ts';
import { runConsumer } from '../consumer/helpers.ts';
import { startGateway, tempDir } from '../support/gateway-process.ts';
import { encode, ExportMetricsServiceRequest, rwSeries, WriteRequest } from '../support/protos.ts';

const rw = compressSync(encode(WriteRequest, { timeseries: [rwSeries({ __name__: 'up', job: 'k' }, [[1, 1_700_000_000_000]])] }));
const otlp = encode(ExportMetricsServiceRequest, {
  resource_metrics: [{ scope_metrics: [{ metrics: [{ name: 'g', gauge: { data_points: [{ time_unix_nano: '1700000000000000000', as_double: 2 }] } }] }] }],
});

describe('protocol records in Kafka', () => {
  it('the consumer reads the record format from msgpack and from raw records', async () => {
    const broker = await startLocalBroker({ brokers: 1 });
    try {
      const seen: Record<string, unknown> = {};
      for (const format of ['msgpack', 'raw']) {
        const topic = `protocols-${format}-${Date.now()}`;
        const gw = await startGateway(['--mode', 'kafka', '--brokers', broker.bootstrap, '--topic', topic, '--workers', '1', '--value-format', format, '--data-dir', await tempDir()]);
        try {
          const post = (path: string, body: Uint8Array | string, type: string) =>
            fetch(`http://127.0.0.1:${gw.port}${path}`, { method: 'POST', headers: { authorization: 'Bearer k1', 'content-type': type }, body }).then((r) => r.status);
          expect(await post('/api/v1/write', rw, 'application/x-protobuf')).toBe(204);
          expect(await post('/api/v2/write?precision=s', 'cpu,host=a v=3 1700000000', 'text/plain')).toBe(204);
          expect(await post('/v1/metrics', otlp, 'application/x-protobuf')).toBe(200);
        } finally {
          await gw.stop();
        }
        const r = await runConsumer(['--mode', 'kafka', '--brokers', broker.bootstrap, '--topic', topic, '--from-beginning', '--exit-at-end']);
        expect(r.code, r.stderr).toBe(0);
        const lines = r.lines as unknown as { key: string; format?: string; value: { metrics: { name: string }[] } }[];
        expect(lines.map((l) => l.key)).toEqual(['k1', 'k1', 'k1']);
        if (format === 'raw') {
          expect(lines.map((l) => l.format)).toEqual([
            'application/x-protobuf;proto=prometheus.WriteRequest (snappy)',
            'text/plain;influx-line-protocol;precision=s',
            'application/x-protobuf;otlp=ExportMetricsServiceRequest',
          ]);
        }
        seen[format] = lines.map((l) => l.value);
      }
      expect(seen.raw).toEqual(seen.msgpack);
      expect((seen.msgpack as { metrics: { name: string }[] }[]).map((v) => v.metrics[0]!.name)).toEqual(['up', 'cpu_v', 'g']);
    } finally {
      await broker.stop();
    }
  }, 120_000);
});
