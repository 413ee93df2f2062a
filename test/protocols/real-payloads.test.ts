/**
 * Conformance on real payloads: bodies captured from vmagent (remote_write 1.0, from a
 * real scrape) and from the OpenTelemetry JS SDK's protobuf exporter decode to the same
 * records with the hand-written decoders as with protobufjs reading the same bytes.
 */
import http from 'node:http';
import type net from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { Unpackr } from 'msgpackr';
import { uncompressSync } from 'snappy';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeOtlpProtobuf } from '../../src/protocols/otlp-decode.ts';
import { OtlpEmitter } from '../../src/protocols/otlp-emit.ts';
import { decodeOtlpJson } from '../../src/protocols/otlp-json.ts';
import { decodeWriteRequestV1 } from '../../src/protocols/remote-write-decode.ts';
import { createRecordEncoder } from '../../src/records/record-encoder.ts';
import { scrapeConfigYaml, startScrapeTarget, startVmagent, waitFor } from '../support/agents.ts';
import { tempDir } from '../support/gateway-process.ts';
import { ExportMetricsServiceRequestCamel, WriteRequest } from '../support/protos.ts';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** An HTTP server that keeps every request body and answers 204 (or 200 for OTLP). */
async function captureServer(): Promise<{ port: number; bodies: Map<string, Buffer[]>; close(): Promise<void> }> {
  const bodies = new Map<string, Buffer[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const list = bodies.get(req.url!.split('?')[0]!) ?? [];
      list.push(Buffer.concat(chunks));
      bodies.set(req.url!.split('?')[0]!, list);
      res.statusCode = req.url === '/v1/metrics' ? 200 : 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

describe('hand-written decoders on real payloads', () => {
  const stops: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  });

  it('remote_write bodies from vmagent: same entries as protobufjs', async () => {
    const capture = await captureServer();
    stops.push(() => capture.close());
    const target = await startScrapeTarget();
    stops.push(() => target.close());
    const work = await tempDir('vmagent-capture-');
    await writeFile(path.join(work, 'scrape.yml'), scrapeConfigYaml(target.port, 't'));
    const vm = await startVmagent([
      `-remoteWrite.url=http://127.0.0.1:${capture.port}/api/v1/write`,
      `-remoteWrite.tmpDataPath=${path.join(work, 'q')}`,
      '-remoteWrite.flushInterval=200ms',
      `-promscrape.config=${path.join(work, 'scrape.yml')}`,
    ]);
    stops.push(() => vm.stop());
    await waitFor('3 remote_write bodies', () => (capture.bodies.get('/api/v1/write')?.length ?? 0) >= 3, 30_000);
    for (const compressed of capture.bodies.get('/api/v1/write')!) {
      const body = uncompressSync(compressed, { asBuffer: true }) as Buffer;
      const enc = createRecordEncoder('msgpack');
      decodeWriteRequestV1(body, enc);
      const got = (unpackr.unpack(enc.finish()) as { metrics: unknown[] }).metrics;
      const req = WriteRequest.toObject(WriteRequest.decode(body), { longs: Number, defaults: true }) as { timeseries: { labels: { name: string; value: string }[]; samples?: { value: number; timestamp: number }[] }[] };
      const want = req.timeseries.flatMap((ts) => {
        const tags: Record<string, string> = {};
        let name = '';
        for (const l of ts.labels) {
          if (l.name === '__name__') name = l.value;
          else if (l.value !== '') tags[l.name] = l.value;
        }
        return (ts.samples ?? []).map((s) => ({ name, tags, value: s.value, timestamp: s.timestamp }));
      });
      expect(want.length).toBeGreaterThan(0);
      expect(got).toEqual(want);
    }
  });

  it('OTLP protobuf bodies from the OpenTelemetry SDK: same entries as protobufjs', async () => {
    const capture = await captureServer();
    stops.push(() => capture.close());
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'capture', 'k8s.pod.uid': 'abc' }),
      readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `http://127.0.0.1:${capture.port}/v1/metrics` }), exportIntervalMillis: 60_000 })],
    });
    const meter = provider.getMeter('m', '1');
    meter.createCounter('c').add(5, { a: 'x', n: 3, f: 1.5, b: false });
    meter.createHistogram('h').record(0.3, { route: '/é' });
    meter.createUpDownCounter('u').add(-2);
    meter.createObservableGauge('g').addCallback((r) => r.observe(7, { arr: 'y' }));
    await provider.forceFlush();
    await provider.shutdown();
    const bodies = capture.bodies.get('/v1/metrics')!;
    expect(bodies.length).toBeGreaterThan(0);
    for (const body of bodies) {
      const hand = createRecordEncoder('msgpack');
      decodeOtlpProtobuf(body, new OtlpEmitter(hand));
      const lib = createRecordEncoder('msgpack');
      const obj = ExportMetricsServiceRequestCamel.toObject(ExportMetricsServiceRequestCamel.decode(body), { longs: String, enums: Number, bytes: String });
      decodeOtlpJson(obj, new OtlpEmitter(lib));
      const a = unpackr.unpack(hand.finish()) as { metrics: unknown[] };
      expect(a.metrics.length).toBeGreaterThan(5);
      expect(a).toEqual(unpackr.unpack(lib.finish()));
    }
  });
});
