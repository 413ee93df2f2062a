/**
 * Every protocol endpoint through a real gateway process and back out of the log with the
 * consumer CLI: status codes and headers each protocol's senders expect, what is stored,
 * --value-format json and raw (raw records decode to the same entries).
 */
import { gzipSync } from 'node:zlib';
import { compressSync } from 'snappy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { encode, ExportMetricsServiceRequest, ExportMetricsServiceResponse, RpcStatus, rwSeries, WriteRequest, WriteRequestV2 } from '../support/protos.ts';

const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';

async function post(port: number, path: string, body: Uint8Array | string, headers: Record<string, string>) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { authorization: 'Bearer agent-1', ...headers }, body });
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
}
const text = (b: Uint8Array) => Buffer.from(b).toString();

const rw1 = compressSync(encode(WriteRequest, { timeseries: [rwSeries({ __name__: 'up', job: 'node', instance: 'a:9100' }, [[1, 1_700_000_000_000], [0, 1_700_000_015_000]])] }));
const rw2 = compressSync(
  encode(WriteRequestV2, { symbols: ['', '__name__', 'requests_total', 'code', '200'], timeseries: [{ labels_refs: [1, 2, 3, 4], samples: [{ value: 7, timestamp: 1_700_000_000_000 }], metadata: { type: 1 } }] }),
);
const influx = 'cpu,host=a usage=1.5,count=2i 1700000000000000000\n# comment\nmem,host=a free=3 1700000000000000000\n';
const otlpJson = JSON.stringify({
  resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeMetrics: [{ metrics: [{ name: 'q', gauge: { dataPoints: [{ timeUnixNano: '1700000000000000000', asDouble: 4 }, { asDouble: 1 }] } }] }] }],
});
const otlpProto = encode(ExportMetricsServiceRequest, {
  resource_metrics: [{ scope_metrics: [{ metrics: [{ name: 'c', sum: { is_monotonic: true, aggregation_temporality: 2, data_points: [{ time_unix_nano: '1700000000000000000', as_int: 9 }] } }] }] }],
});

describe('protocol endpoints through the gateway', () => {
  let gw: GatewayProcess;
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    gw = await startGateway(['--workers', '1', '--data-dir', dir]);
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('remote_write 1.0: 204 empty once durable; 400 on bad data; 415 on an unknown proto or encoding', async () => {
    const ok = await post(gw.port, '/api/v1/write', rw1, { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' });
    expect(ok.status).toBe(204);
    expect(ok.body.length).toBe(0);
    const noName = compressSync(encode(WriteRequest, { timeseries: [rwSeries({ job: 'x' }, [[1, 1]])] }));
    const bad = await post(gw.port, '/api/v1/write', noName, { 'content-type': 'application/x-protobuf' });
    expect(bad.status).toBe(400);
    expect(text(bad.body)).toMatch(/no metric name/);
    expect((await post(gw.port, '/api/v1/write', Buffer.from('not snappy'), { 'content-type': 'application/x-protobuf' })).status).toBe(400);
    expect((await post(gw.port, '/api/v1/write', rw1, { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v9.Request' })).status).toBe(415);
    expect((await post(gw.port, '/api/v1/write', rw1, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' })).status).toBe(415);
    // A snappy header claiming more than --max-decoded-body: refused before inflating.
    expect((await post(gw.port, '/api/v1/write', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0]), { 'content-type': 'application/x-protobuf' })).status).toBe(413);
  });

  it('remote_write 2.0: 204 with the written-count headers', async () => {
    const ok = await post(gw.port, '/api/v1/write', rw2, { 'content-type': V2_TYPE, 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0' });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('x-prometheus-remote-write-samples-written')).toBe('1');
    expect(ok.headers.get('x-prometheus-remote-write-histograms-written')).toBe('0');
    expect(ok.headers.get('x-prometheus-remote-write-exemplars-written')).toBe('0');
  });

  it('Influx: 204 on /write and /api/v2/write (gzip too); 400 naming the line in each version\'s error shape', async () => {
    expect((await post(gw.port, '/write?db=telegraf&precision=ns', influx, {})).status).toBe(204);
    expect((await post(gw.port, '/api/v2/write?org=o&bucket=b&precision=s', gzipSync('disk,host=b used=5 1700000000'), { authorization: 'Token agent-2', 'content-encoding': 'gzip' })).status).toBe(204);
    const v2 = await post(gw.port, '/api/v2/write?org=o&bucket=b', 'cpu v=1\ncpu v=oops', {});
    expect(v2.status).toBe(400);
    expect(JSON.parse(text(v2.body))).toEqual({ code: 'invalid', message: 'unable to parse: line 2: field "v": invalid value oops' });
    const v1 = await post(gw.port, '/write?db=x', 'cpu', {});
    expect(JSON.parse(text(v1.body)).error).toMatch(/line 1: missing fields/);
    expect((await post(gw.port, '/write?precision=fortnights', 'cpu v=1', {})).status).toBe(400);
    // A fragment in the request line (fetch never sends one) is not part of the query: the
    // precision is "s", and the answer is about the body.
    const fragment = await rawRequest(gw.port, 'POST /write?db=x&precision=s#frag HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer agent-1\r\nContent-Length: 3\r\nConnection: close', 'cpu');
    expect(fragment.statuses).toEqual([400]);
    expect(String(fragment.json?.error)).toMatch(/line 1: missing fields/);
  });

  it('OTLP: 200 ExportMetricsServiceResponse in the request encoding, partial_success for rejected points, 415 otherwise', async () => {
    const j = await post(gw.port, '/v1/metrics', otlpJson, { 'content-type': 'application/json' });
    expect(j.status).toBe(200);
    expect(JSON.parse(text(j.body))).toEqual({ partialSuccess: { rejectedDataPoints: '1', errorMessage: 'q: data point without time_unix_nano' } });
    const p = await post(gw.port, '/v1/metrics', gzipSync(otlpProto), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(p.status).toBe(200);
    expect(ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(p.body))).toEqual({});
    const bad = await post(gw.port, '/v1/metrics', Uint8Array.from([0x0a, 0xff]), { 'content-type': 'application/x-protobuf' });
    expect(bad.status).toBe(400);
    expect((await post(gw.port, '/v1/metrics', otlpJson, { 'content-type': 'text/plain' })).status).toBe(415);
  });

  it('stores one record per request in the record format, keyed by the client id', async () => {
    const lines = await consumeAll(dir);
    const all = lines.flatMap((l) => l.value.metrics.map((m) => ({ key: l.key, ...m })));
    expect(lines.map((l) => l.key).sort()).toEqual(['agent-1', 'agent-1', 'agent-1', 'agent-1', 'agent-1', 'agent-2']);
    expect(all).toContainEqual({ key: 'agent-1', name: 'up', value: 0, timestamp: 1_700_000_015_000, tags: { job: 'node', instance: 'a:9100' } });
    expect(all).toContainEqual({ key: 'agent-1', name: 'requests_total', value: 7, timestamp: 1_700_000_000_000, tags: { code: '200' }, type: 'counter' });
    expect(all).toContainEqual({ key: 'agent-1', name: 'cpu_count', value: 2, timestamp: 1_700_000_000_000, tags: { host: 'a' } });
    expect(all).toContainEqual({ key: 'agent-2', name: 'disk_used', value: 5, timestamp: 1_700_000_000_000, tags: { host: 'b' } });
    expect(all).toContainEqual({ key: 'agent-1', name: 'q', value: 4, timestamp: 1_700_000_000_000, tags: { 'service.name': 'svc' }, type: 'gauge' });
    expect(all).toContainEqual({ key: 'agent-1', name: 'c', value: 9, timestamp: 1_700_000_000_000, tags: {}, type: 'counter' });
  });
});

describe('--value-format json and raw', () => {
  it('json stores the same entries as text; raw stores bodies as received and the consumer decodes them alike', async () => {
    const results: Record<string, unknown[]> = {};
    for (const format of ['json', 'raw']) {
      const dir = await tempDir();
      const gw = await startGateway(['--workers', '1', '--data-dir', dir, '--value-format', format]);
      try {
        expect((await post(gw.port, '/api/v1/write', rw1, { 'content-type': 'application/x-protobuf' })).status).toBe(204);
        expect((await post(gw.port, '/api/v1/write', rw2, { 'content-type': V2_TYPE })).status).toBe(204);
        expect((await post(gw.port, '/write?precision=ns', influx, {})).status).toBe(204);
        expect((await post(gw.port, '/v1/metrics', otlpProto, { 'content-type': 'application/x-protobuf' })).status).toBe(200);
        expect((await post(gw.port, '/v1/metrics', otlpJson, { 'content-type': 'application/json' })).status).toBe(200);
      } finally {
        await gw.stop();
      }
      const lines = (await consumeAll(dir)) as unknown as { offset: number; partition: number; format?: string; value: { metrics: unknown[] } }[];
      lines.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
      if (format === 'raw') {
        expect(lines.map((l) => l.format)).toEqual([
          'application/x-protobuf;proto=prometheus.WriteRequest (snappy)',
          'application/x-protobuf;proto=io.prometheus.write.v2.Request (snappy)',
          'text/plain;influx-line-protocol;precision=ns',
          'application/x-protobuf;otlp=ExportMetricsServiceRequest',
          'application/json;otlp=ExportMetricsServiceRequest',
        ]);
      }
      results[format] = lines.map((l) => l.value.metrics);
    }
    expect(results.raw).toEqual(results.json);
  });
});

describe('retryable refusals in each protocol\'s convention', () => {
  it('a sink that cannot take writes (Kafka unreachable): 503 + Retry-After, nothing stored', async () => {
    const gw = await startGateway(['--workers', '1', '--mode', 'kafka', '--brokers', '127.0.0.1:1', '--topic', 't', '--kafka-timeout', '1s', '--kafka-retries', '0', '--data-dir', await tempDir()]);
    try {
      const rw = await post(gw.port, '/api/v1/write', rw2, { 'content-type': V2_TYPE });
      expect(rw.status).toBe(503);
      expect(rw.headers.get('retry-after')).toBe('1');
      expect(rw.headers.get('x-prometheus-remote-write-samples-written')).toBe('0');
      const v2 = await post(gw.port, '/api/v2/write', influx, {});
      expect(v2.status).toBe(503);
      expect(v2.headers.get('retry-after')).toBe('1');
      expect(JSON.parse(text(v2.body)).code).toBe('unavailable');
      const otlp = await post(gw.port, '/v1/metrics', otlpProto, { 'content-type': 'application/x-protobuf' });
      expect(otlp.status).toBe(503);
      expect(otlp.headers.get('retry-after')).toBe('1');
      expect(RpcStatus.toObject(RpcStatus.decode(otlp.body))).toMatchObject({ code: 14 });
      const otlpJ = await post(gw.port, '/v1/metrics', otlpJson, { 'content-type': 'application/json' });
      expect(otlpJ.status).toBe(503);
      expect(JSON.parse(text(otlpJ.body))).toMatchObject({ code: 14 });
    } finally {
      await gw.stop();
    }
  });
});
