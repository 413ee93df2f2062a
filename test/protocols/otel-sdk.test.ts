/**
 * The OpenTelemetry JS SDK exports to the gateway with both OTLP/HTTP exporters (JSON:
 * exporter-metrics-otlp-http; protobuf: exporter-metrics-otlp-proto), plain and gzipped
 * (`compression: 'gzip'`, checked on the wire): counters, up-down counters, gauges,
 * histograms and exponential histograms arrive with their attributes, resource and scope,
 * and the exporters report success.
 */
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { startSniffingProxy } from '../support/sniffing-proxy.ts';

type Compression = NonNullable<NonNullable<ConstructorParameters<typeof ProtoExporter>[0]>['compression']>;

interface Entry {
  name: string;
  value: number;
  timestamp: number;
  tags: Record<string, string>;
  type?: string;
  unit?: string;
  help?: string;
  histogram?: Record<string, unknown>;
}

describe('OpenTelemetry JS SDK into /v1/metrics', () => {
  let gw: GatewayProcess;
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    gw = await startGateway(['--workers', '1', '--data-dir', dir]);
  });
  afterAll(async () => {
    await gw?.stop();
  });

  for (const [encoding, Exporter, compression] of [
    ['json', JsonExporter, 'none'],
    ['protobuf', ProtoExporter, 'none'],
    ['json-gzip', JsonExporter, 'gzip'],
    ['protobuf-gzip', ProtoExporter, 'gzip'],
  ] as const) {
    it(`exports counters, gauges and histograms with attributes (${encoding})`, async () => {
      const proxy = await startSniffingProxy(gw.port);
      const exporter: PushMetricExporter = new Exporter({
        url: `http://127.0.0.1:${proxy.port}/v1/metrics`,
        headers: { authorization: `Bearer otel-${encoding}` },
        compression: compression as Compression,
      });
      const results: number[] = [];
      const wrapped: PushMetricExporter = {
        export: (metrics, done) => exporter.export(metrics, (r) => (results.push(r.code), done(r))),
        forceFlush: () => exporter.forceFlush(),
        shutdown: () => exporter.shutdown(),
        selectAggregationTemporality: exporter.selectAggregationTemporality?.bind(exporter),
      };
      const provider = new MeterProvider({
        resource: resourceFromAttributes({ 'service.name': `shop-${encoding}`, 'deployment.environment': 'test' }),
        readers: [new PeriodicExportingMetricReader({ exporter: wrapped, exportIntervalMillis: 60_000 })],
        views: [{ instrumentName: 'payload_bytes', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
      });
      const meter = provider.getMeter('checkout', '1.4.2');
      const counter = meter.createCounter('orders', { description: 'Orders placed.', unit: '{order}' });
      counter.add(3, { region: 'eu', 'payment.method': 'card' });
      counter.add(2, { region: 'us', 'payment.method': 'card' });
      meter.createUpDownCounter('queue_depth').add(-4, { queue: 'q1' });
      meter.createObservableGauge('temperature', { unit: 'Cel' }).addCallback((r) => r.observe(21.5, { room: 'lab', floor: 2 }));
      const hist = meter.createHistogram('latency', { unit: 's', advice: { explicitBucketBoundaries: [0.1, 1] } });
      for (const v of [0.05, 0.5, 0.7, 3]) hist.record(v, { route: '/pay' });
      const expHist = meter.createHistogram('payload_bytes');
      for (const v of [100, 200, 4000]) expHist.record(v);
      await provider.forceFlush();
      await provider.shutdown();
      const posts = proxy.heads().filter((h) => h.startsWith('post /v1/metrics'));
      await proxy.close();
      expect(posts.length).toBeGreaterThan(0);
      for (const h of posts) expect(/\r\ncontent-encoding: gzip(\r\n|$)/.test(h)).toBe(compression === 'gzip');
      // forceFlush and shutdown each export once: every export succeeded (ExportResultCode.SUCCESS).
      expect(results.length).toBeGreaterThan(0);
      expect(results.every((c) => c === 0)).toBe(true);

      const lines = (await consumeAll(dir)).filter((l) => l.key === `otel-${encoding}`);
      expect(lines.length).toBe(results.length);
      const m = lines[0]!.value.metrics as Entry[];
      const base = { 'service.name': `shop-${encoding}`, 'deployment.environment': 'test', otel_scope_name: 'checkout', otel_scope_version: '1.4.2' };
      const find = (name: string, tags: Record<string, string> = {}) => m.find((e) => e.name === name && Object.entries(tags).every(([k, v]) => e.tags[k] === v));
      expect(find('orders', { region: 'eu' })).toMatchObject({ value: 3, type: 'counter', unit: '{order}', help: 'Orders placed.', tags: { ...base, region: 'eu', 'payment.method': 'card' } });
      expect(find('orders', { region: 'us' })!.value).toBe(2);
      expect(find('queue_depth')).toMatchObject({ value: -4, type: 'gauge', tags: { queue: 'q1' } });
      expect(find('temperature')).toMatchObject({ value: 21.5, type: 'gauge', unit: 'Cel', tags: { room: 'lab', floor: '2' } });
      expect(['0.1', '1', '+Inf'].map((le) => find('latency_bucket', { le, route: '/pay' })!.value)).toEqual([1, 3, 4]);
      expect(find('latency_sum')!.value).toBeCloseTo(4.25);
      expect(find('latency_count')).toMatchObject({ value: 4, type: 'histogram', unit: 's' });
      const exp = find('payload_bytes')!;
      expect(exp).toMatchObject({ value: 3, type: 'histogram', histogram: { count: 3, sum: 4300 } });
      expect((exp.histogram!.positive_counts as number[]).reduce((a, b) => a + b, 0)).toBe(3);
      for (const e of m) expect(Math.abs(e.timestamp - Date.now())).toBeLessThan(120_000);
    });
  }
});
