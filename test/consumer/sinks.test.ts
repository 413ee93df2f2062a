/**
 * The sink modules on their own: records → samples (every field of the record format),
 * the remote_write WriteRequest encoder (read back with a small protobuf reader), line
 * protocol escaping, and the delivery loop against a scripted local HTTP server: retries
 * on 5xx/429 with the batch held, 4xx to the dead letter, chunking and per-series order,
 * abandonment when the partition is lost or the consumer stops.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import snappy from 'snappy';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchAbandoned } from '../../src/consumer/batch-abandoned.ts';
import type { ConsumedRecord } from '../../src/consumer/plain-reader.ts';
import { FileDeadLetter } from '../../src/consumer/sinks/dead-letter.ts';
import { Delivery } from '../../src/consumer/sinks/delivery.ts';
import { influxFormat, influxLine, influxRepresentable, nanoseconds } from '../../src/consumer/sinks/influx.ts';
import { encodeWriteRequest, familyName, remoteWriteFormat } from '../../src/consumer/sinks/remote-write.ts';
import { readMsgpackRecord } from '../../src/consumer/sinks/msgpack-samples.ts';
import { extractSamples, SampleBatch, SeriesTable } from '../../src/consumer/sinks/samples.ts';
import { SinkMetrics } from '../../src/consumer/sinks/sink-metrics.ts';
import { ContentType } from '../../src/sink/sink.ts';
import { toConsumedRecord } from '../../src/consumer/decode.ts';
import { pack } from 'msgpackr';
import { removeDir, tempDir } from './helpers.ts';

function rec(offset: number, value: unknown, extra: Partial<ConsumedRecord> = {}): ConsumedRecord {
  return { partition: 0, offset, key: 'client', timestamp: 1_700_000_000_000 + offset, value, contentType: ContentType.msgpack, ...extra };
}

// --- a minimal protobuf reader, to check the encoder's bytes -------------------------------

type Field = { no: number; wire: number; varint?: bigint; bytes?: Buffer; fixed64?: Buffer };

function readVarint(buf: Buffer, pos: { p: number }): bigint {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[pos.p++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return result;
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  const pos = { p: 0 };
  while (pos.p < buf.length) {
    const key = Number(readVarint(buf, pos));
    const f: Field = { no: key >> 3, wire: key & 7 };
    if (f.wire === 0) f.varint = readVarint(buf, pos);
    else if (f.wire === 1) {
      f.fixed64 = buf.subarray(pos.p, pos.p + 8);
      pos.p += 8;
    } else if (f.wire === 2) {
      const len = Number(readVarint(buf, pos));
      f.bytes = buf.subarray(pos.p, pos.p + len);
      pos.p += len;
    } else throw new Error(`wire type ${f.wire}`);
    out.push(f);
  }
  expect(pos.p).toBe(buf.length);
  return out;
}

interface DecodedSeries {
  labels: [string, string][];
  samples: { value: number; bits: string; timestamp: number }[];
}

function decodeWriteRequest(buf: Buffer) {
  const series: DecodedSeries[] = [];
  const metadata: { type: number; family: string; help?: string; unit?: string }[] = [];
  for (const f of fields(buf)) {
    if (f.no === 1) {
      const ts: DecodedSeries = { labels: [], samples: [] };
      for (const g of fields(f.bytes!)) {
        if (g.no === 1) {
          const l = fields(g.bytes!);
          ts.labels.push([l.find((x) => x.no === 1)!.bytes!.toString(), l.find((x) => x.no === 2)!.bytes!.toString()]);
        } else if (g.no === 2) {
          const s = fields(g.bytes!);
          const v = s.find((x) => x.no === 1)!.fixed64!;
          const t = s.find((x) => x.no === 2)?.varint ?? 0n;
          ts.samples.push({ value: v.readDoubleLE(0), bits: v.readBigUInt64LE(0).toString(16), timestamp: Number(BigInt.asIntN(64, t)) });
        }
      }
      series.push(ts);
    } else if (f.no === 3) {
      const m = fields(f.bytes!);
      metadata.push({
        type: Number(m.find((x) => x.no === 1)?.varint ?? 0n),
        family: m.find((x) => x.no === 2)!.bytes!.toString(),
        help: m.find((x) => x.no === 4)?.bytes?.toString(),
        unit: m.find((x) => x.no === 5)?.bytes?.toString(),
      });
    }
  }
  return { series, metadata };
}

describe('records → samples', () => {
  it('maps every field of the record format and counts what it skips', () => {
    const { samples: batchSamples, skipped, undecodable } = extractSamples([
      rec(0, {
        metrics: [
          { name: 'http_requests_total', value: 12.5, timestamp: 1_700_000_000_123, tags: { job: 'api', z: 'last', a: 'first', empty: '', __name__: 'x' }, type: 'counter', unit: 'requests', help: 'Requests.' },
          { name: 'up', value: 1 }, // timestamp: the record's
          { name: 'stale', value: 'NaN', timestamp: 5 }, // JSON value-format spellings
          { name: 'big', value: '+Inf', timestamp: 6 },
          { name: 'small', value: '-Inf', timestamp: 7 },
          { name: 'n', value: 3n, timestamp: 8 }, // msgpack int64
          { name: 'native', value: 0, histogram: { schema: 3, count: 1 } },
          { name: 'bad' }, // no value
          { value: 1 }, // no name
          'not an object',
        ],
      }),
      rec(1, { other: true }),
      rec(2, undefined, { valueError: 'unknown content type 5', rawValue: new Uint8Array([1]) }),
    ]);
    const samples = batchSamples.toArray();
    expect(samples.map((s) => [s.name, s.value, s.timestamp])).toEqual([
      ['http_requests_total', 12.5, 1_700_000_000_123],
      ['up', 1, 1_700_000_000_000],
      ['stale', NaN, 5],
      ['big', Infinity, 6],
      ['small', -Infinity, 7],
      ['n', 3, 8],
    ]);
    expect(samples[0].tags).toEqual([['a', 'first'], ['job', 'api'], ['z', 'last']]);
    expect(samples[0]).toMatchObject({ type: 'counter', unit: 'requests', help: 'Requests.', record: 0 });
    expect(Object.fromEntries(skipped)).toEqual({ native_histogram: 1, invalid_entry: 3 });
    expect(undecodable.map((u) => u.record)).toEqual([1, 2]);
    // Series identity is unambiguous: the same text split differently is another series.
    const [x, y] = extractSamples([rec(0, { metrics: [{ name: 'a', value: 1, tags: { b: 'c|1:d' } }, { name: 'a', value: 1, tags: { b: 'c', d: '' } }] })]).samples.toArray();
    expect(x.series).not.toBe(y.series);
    // One label set is one series whatever order its tags came in (and however a value was typed).
    const [u, v] = extractSamples([rec(0, { metrics: [{ name: 'a', value: 1, tags: { x: '1', y: 'z' } }, { name: 'a', value: 2, tags: { y: 'z', x: 1 } }] })]).samples.toArray();
    expect(u.series).toBe(v.series);
  });
});

describe('msgpack records read straight into samples', () => {
  const check = (bytes: Uint8Array, fast?: boolean) => {
    if (fast !== undefined) expect(readMsgpackRecord(bytes, 0, 0, new SeriesTable(), new SampleBatch(), new Map())).toBe(fast);
    const general = extractSamples([toConsumedRecord(0, 0, Buffer.from('k'), 1_700_000_000_000, ContentType.msgpack, bytes)]);
    const direct = extractSamples([toConsumedRecord(0, 0, Buffer.from('k'), 1_700_000_000_000, ContentType.msgpack, bytes, true)]);
    expect(direct.samples.toArray()).toEqual(general.samples.toArray());
    expect(Object.fromEntries(direct.skipped)).toEqual(Object.fromEntries(general.skipped));
    expect(direct.undecodable).toEqual(general.undecodable);
    return direct;
  };
  it('gives what decoding the value first gives, for every field and the odd cases', () => {
    const values: unknown[] = [
      {
        metrics: [
          { name: 'http_requests_total', value: 12.5, timestamp: 1_700_000_000_123, tags: { job: 'api', z: 'last', a: 'first', empty: '', __name__: 'x' }, type: 'counter', unit: 'requests', help: 'Requests.' },
          { name: 'up', value: 1 },
          { name: 'stale', value: 'NaN', timestamp: 5 },
          { name: 'big', value: '+Inf', timestamp: 6 },
          { name: 'small', value: -7, timestamp: -8 },
          { name: 'ints', value: 2 ** 40, timestamp: 2 ** 41, tags: { n: 3, f: 1.5, b: true, no: null, neg: -1 } },
          { name: 'native', value: 0, histogram: { schema: 3, count: 1, positive_spans: [{ offset: 0, length: 1 }] } },
          { name: 'notnative', value: 2, histogram: null, timestamp: null, tags: null },
          { name: 'bad' },
          { value: 1 },
          { name: '', value: 1 },
          { name: 5, value: 1 },
          { name: 'badts', value: 1, timestamp: 'soon' },
          'not an object',
          null,
          [1, 2],
          { name: 'unknown fields', value: 1, extra: { deep: [1, { x: 'y' }] }, temporality: 'delta' },
          { name: 'ünïcödé', value: 1, tags: { 'clé': 'välue' } },
        ],
        other: 'field',
      },
      { metrics: [] },
      // left to the general decoder:
      { metrics: [{ name: 'arr-tags', value: 1, tags: ['a', 'b'] }] },
      { metrics: [{ name: 'str-tags', value: 1, tags: 'x' }] },
      { metrics: [{ name: 'obj-tag', value: 1, tags: { o: { p: 1 } } }] },
      { notMetrics: true },
      'a string',
      [1, 2, 3],
    ];
    for (const v of values.slice(0, 2)) check(pack(v), true);
    for (const v of values.slice(2)) check(pack(v), false);
    // The same series whatever order its tags came in, through both paths.
    const d = check(pack({ metrics: [{ name: 'a', value: 1, tags: { x: '1', y: 'z' } }, { name: 'a', value: 2, tags: { y: 'z', x: 1 } }] }));
    const [u, w] = d.samples.toArray();
    expect(u.series).toBe(w.series);
  });

  it('leaves what is not the plain record format to the general decoder', () => {
    const good = Buffer.from(pack({ metrics: [{ name: 'a', value: 1 }] }));
    check(good, true);
    check(Buffer.concat([good, Buffer.from([0xc0])]), false); // trailing bytes
    check(Buffer.from([0x81, 0xa7, ...Buffer.from('metrics'), 0x91, 0x82, 0xa4, ...Buffer.from('name'), 0xa1, 0xff, 0xa5, ...Buffer.from('value'), 0x01]), false); // invalid UTF-8
    check(Buffer.from([0x81, 0xa7, ...Buffer.from('metrics'), 0x91, 0x82, 0xa4, ...Buffer.from('name'), 0xa1, 0x61, 0xa5, ...Buffer.from('value'), 0xd4, 0x01, 0x00]), false); // an ext type
    // a tag given twice (the last wins in an object)
    check(Buffer.from([0x81, 0xa7, ...Buffer.from('metrics'), 0x91, 0x83, 0xa4, ...Buffer.from('name'), 0xa1, 0x61, 0xa5, ...Buffer.from('value'), 0x01, 0xa4, ...Buffer.from('tags'), 0x82, 0xa1, 0x6b, 0xa1, 0x31, 0xa1, 0x6b, 0xa1, 0x32]), false);
    // a 64-bit integer tag value
    check(pack({ metrics: [{ name: 'a', value: 1, tags: { big: 2n ** 60n } }] }), false);
  });
});

describe('remote_write 1.0 encoder', () => {
  it('writes a WriteRequest: sorted labels, one TimeSeries per series, stale markers, metadata', () => {
    const { samples } = extractSamples([
      rec(0, {
        metrics: [
          { name: 'req_bucket', value: 3, timestamp: 2000, tags: { le: '0.5', job: 'api' }, type: 'histogram', help: 'Latency.', unit: 'seconds' },
          { name: 'req_bucket', value: 1, timestamp: 1000, tags: { le: '0.5', job: 'api' }, type: 'histogram' },
          { name: 'req_count', value: 4, timestamp: 1000, tags: { job: 'api' }, type: 'histogram' },
          { name: 'gone', value: NaN, timestamp: 1000, tags: { Upper: 'x', 'ünï': 'cödé' } },
          { name: 'old', value: -1.25, timestamp: -5 },
        ],
      }),
    ]);
    const { series, metadata } = decodeWriteRequest(encodeWriteRequest(samples));
    expect(series).toHaveLength(4);
    // Series in the order of their oldest sample.
    expect(series[0].samples).toEqual([{ value: -1.25, bits: expect.any(String), timestamp: -5 }]);
    expect(series[1].labels).toEqual([['__name__', 'req_bucket'], ['job', 'api'], ['le', '0.5']]);
    // oldest first within a series
    expect(series[1].samples.map((s) => [s.value, s.timestamp])).toEqual([[1, 1000], [3, 2000]]);
    expect(series[2].labels).toEqual([['__name__', 'req_count'], ['job', 'api']]);
    // byte order: "Upper" < "__name__" < "ünï"
    expect(series[3].labels).toEqual([['Upper', 'x'], ['__name__', 'gone'], ['ünï', 'cödé']]);
    expect(series[3].samples[0].bits).toBe('7ff0000000000002'); // Prometheus StaleNaN
    // One MetricMetadata per family: the one with help and unit, wherever it came.
    expect(metadata).toEqual([{ type: 3, family: 'req', help: 'Latency.', unit: 'seconds' }]);
    expect(familyName('x_sum', 'summary')).toBe('x');
    expect(familyName('x_total', 'counter')).toBe('x_total');
  });

  it('sends snappy-compressed protobuf with the remote_write 1.0 headers', () => {
    const { samples } = extractSamples([rec(0, { metrics: [{ name: 'a', value: 1, timestamp: 1 }] })]);
    const { body, headers } = remoteWriteFormat.encode(samples, [0]);
    expect(headers).toMatchObject({ 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf', 'x-prometheus-remote-write-version': '0.1.0' });
    expect(decodeWriteRequest(snappy.uncompressSync(body) as Buffer).series[0].labels).toEqual([['__name__', 'a']]);
  });
});

describe('influx line protocol', () => {
  it('escapes names and tags as InfluxDB 1.x reads them, with ns timestamps', () => {
    const [s] = extractSamples([rec(0, { metrics: [{ name: 'cpu load,x', value: 0.5, timestamp: 1_700_000_000_000, tags: { 'host name': 'a=b,c', path: 'C:\\dir' } }] })]).samples.toArray();
    expect(influxLine(s)).toBe('cpu\\ load\\,x,host\\ name=a\\=b\\,c,path=C:\\dir value=0.5 1700000000000000000');
    expect(nanoseconds(1.5)).toBe('1500000');
    expect(nanoseconds(1_700_000_000_000.25)).toBe('1700000000000250000');
    const unrepresentable = extractSamples([
      rec(0, {
        metrics: [
          { name: 'a', value: NaN },
          { name: 'b', value: 1, tags: { t: 'line\nbreak' } },
          { name: 'c', value: 1, tags: { t: 'ends\\' } },
          { name: 'd\\ e', value: 1 },
          { name: 'ok', value: 1e21 },
        ],
      }),
    ]).samples.toArray().filter((x) => !influxRepresentable(x));
    expect(unrepresentable.map((x) => x.name)).toEqual(['a', 'b', 'c', 'd\\ e']);
    expect(influxFormat.prepareUrl(new URL('http://h:8086/write?db=m')).search).toBe('?db=m&precision=ns');
  });
});

// --- the delivery loop against a scripted server ------------------------------------------

interface Received {
  samples: number;
  /** Each TimeSeries: its labels as text and its sample values. */
  series: [string, number[]][];
  values: number[];
}

let server: http.Server | null = null;
let dir: string | null = null;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
  if (dir) await removeDir(dir);
  dir = null;
});

/** A remote_write receiver answering `script(n)` to its n-th request (0-based). */
async function scriptedStore(script: (n: number) => number | { status: number; headers?: Record<string, string> }): Promise<{ url: string; received: Received[]; statuses: number[] }> {
  const received: Received[] = [];
  const statuses: number[] = [];
  let n = 0;
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = script(n++);
      const { status, headers } = typeof answer === 'number' ? { status: answer, headers: {} } : answer;
      statuses.push(status);
      if (status < 300) {
        const wr = decodeWriteRequest(snappy.uncompressSync(Buffer.concat(chunks)) as Buffer);
        received.push({
          samples: wr.series.reduce((k, s) => k + s.samples.length, 0),
          series: wr.series.map((s) => [s.labels.map((l) => l.join('=')).join(','), s.samples.map((x) => x.value)]),
          values: wr.series.flatMap((s) => s.samples.map((x) => x.value)),
        });
      }
      res.writeHead(status, headers);
      res.end(status < 300 ? '' : `no (${status})`);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`, received, statuses };
}

async function delivery(url: string, extra: Partial<ConstructorParameters<typeof Delivery>[0]> = {}) {
  dir = await tempDir();
  const metrics = new SinkMetrics('remote-write');
  const d = new Delivery({ format: remoteWriteFormat, url, deadLetter: new FileDeadLetter(dir), group: 'g', metrics, minBackoffMs: 5, maxBackoffMs: 20, ...extra });
  return { d, metrics, dir };
}

function batch(n: number, seriesCount = 1) {
  const records = Array.from({ length: n }, (_, i) => rec(i, { metrics: [{ name: 'm', value: i, timestamp: 1000 + i, tags: { s: String(i % seriesCount) } }] }));
  return { partition: 0, records };
}

async function metricValue(metrics: SinkMetrics, name: string): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).reduce((s, v) => s + v.value, 0);
}

describe('delivery', () => {
  it('retries 503/429 (the batch held) until the store takes it', async () => {
    const store = await scriptedStore((n) => (n === 0 ? 503 : n === 1 ? { status: 429, headers: { 'retry-after': '0' } } : 204));
    const { d, metrics } = await delivery(store.url);
    await d.deliver(batch(10));
    expect(store.statuses).toEqual([503, 429, 204]);
    expect(store.received[0].values).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await metricValue(metrics, 'metricstream_consumer_sink_errors_total')).toBe(2);
    expect(await metricValue(metrics, 'metricstream_consumer_records_delivered_total')).toBe(10);
    expect(await metricValue(metrics, 'metricstream_consumer_sink_retrying')).toBe(0);
  });

  it('retries connection errors', async () => {
    const store = await scriptedStore(() => 204);
    const url = store.url;
    await new Promise<void>((r) => server!.close(() => r()));
    const { d, metrics } = await delivery(url);
    const p = d.deliver(batch(3));
    await new Promise((r) => setTimeout(r, 100));
    await new Promise<void>((r) => server!.listen(Number(new URL(url).port), '127.0.0.1', r));
    await p;
    expect(store.received.flatMap((x) => x.values)).toEqual([0, 1, 2]);
    expect(await metricValue(metrics, 'metricstream_consumer_sink_errors_total')).toBeGreaterThan(0);
  });

  it('a 400 sends the request\'s records to the dead letter and resolves (the group moves on)', async () => {
    const store = await scriptedStore(() => 400);
    const { d, metrics, dir: dl } = await delivery(store.url);
    await d.deliver(batch(3));
    const lines = (await readFile(path.join(dl, 'partition-0.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.offset, l.status, l.group, l.sink])).toEqual([[0, 400, 'g', 'remote-write'], [1, 400, 'g', 'remote-write'], [2, 400, 'g', 'remote-write']]);
    expect(lines[0].reason).toBe('HTTP 400: no (400)');
    expect(await metricValue(metrics, 'metricstream_consumer_dead_letter_records_total')).toBe(3);
    expect(await metricValue(metrics, 'metricstream_consumer_records_delivered_total')).toBe(0);
  });

  it('records that are not the record format go to the dead letter too', async () => {
    const store = await scriptedStore(() => 204);
    const { d, dir: dl } = await delivery(store.url);
    await d.deliver({ partition: 0, records: [rec(0, { metrics: [{ name: 'a', value: 1 }] }), rec(1, 'just a string')] });
    const lines = (await readFile(path.join(dl, 'partition-0.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.offset)).toEqual([1]);
    expect(store.received[0].values).toEqual([1]);
  });

  it('splits into requests within the limits; a series keeps its order on its lane', async () => {
    const store = await scriptedStore(() => 204);
    const { d } = await delivery(store.url, { maxSamplesPerRequest: 4, concurrency: 3 });
    await d.deliver(batch(40, 5));
    expect(store.received.every((r) => r.samples <= 4)).toBe(true);
    expect(store.received.reduce((k, r) => k + r.samples, 0)).toBe(40);
    const perSeries = new Map<string, number[]>();
    for (const r of store.received) for (const [s, values] of r.series) perSeries.set(s, [...(perSeries.get(s) ?? []), ...values]);
    expect(perSeries.size).toBe(5);
    for (const values of perSeries.values()) {
      expect(values).toHaveLength(8);
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  it('gives the batch up (BatchAbandoned, nothing sent) once the partition is no longer owned', async () => {
    let owned = true;
    const store = await scriptedStore((n) => {
      if (n === 1) owned = false; // lost during the retries
      return 503;
    });
    const { d } = await delivery(store.url);
    await expect(d.deliver({ ...batch(5), owned: async () => owned })).rejects.toBeInstanceOf(BatchAbandoned);
    expect(store.statuses).toEqual([503, 503]);
  });

  it('offers the Kafka heartbeat all through a backoff', async () => {
    // One backoff of 1.2 s: kafkajs heartbeats only between batches, so a backoff longer
    // than the session timeout would cost the membership without these calls.
    const store = await scriptedStore((n) => (n === 0 ? 503 : 204));
    const { d } = await delivery(store.url, { minBackoffMs: 1200, maxBackoffMs: 1200 });
    let beats = 0;
    await d.deliver({ ...batch(5), heartbeat: async () => void beats++ });
    expect(store.statuses).toEqual([503, 204]);
    expect(beats).toBeGreaterThanOrEqual(2); // one per slice of at most 250 ms: 3 to 5
  });

  it('gives the batch up, the heartbeat\'s error as its cause, when a heartbeat during a backoff throws', async () => {
    // kafkajs: the group is rebalancing. The Kafka consumer tells that from a lost membership by the cause.
    const rebalancing = Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), { name: 'KafkaJSProtocolError', type: 'REBALANCE_IN_PROGRESS' });
    const down = await scriptedStore(() => 503);
    const { d: d2 } = await delivery(down.url, { minBackoffMs: 60_000, maxBackoffMs: 60_000 });
    const given = await d2.deliver({ ...batch(5), heartbeat: async () => { throw rebalancing; } }).catch((e: unknown) => e);
    expect(given).toBeInstanceOf(BatchAbandoned);
    expect((given as Error).cause).toBe(rebalancing);
    expect(down.statuses).toEqual([503]);
  });

  it('gives the batch up when its signal aborts (the consumer stops while the store is down)', async () => {
    const store = await scriptedStore(() => 503);
    const { d } = await delivery(store.url, { minBackoffMs: 1000, maxBackoffMs: 1000 });
    const abort = new AbortController();
    const p = d.deliver({ ...batch(5), signal: abort.signal });
    await new Promise((r) => setTimeout(r, 100));
    abort.abort(new Error('stopping'));
    await expect(p).rejects.toBeInstanceOf(BatchAbandoned);
    expect(store.statuses).toEqual([503]);
  });
});
