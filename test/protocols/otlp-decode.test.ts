/**
 * OTLP decoding: the same request as protobuf (built by protobufjs) and as OTLP/JSON gives
 * the same entries; every metric kind maps as documented (src/protocols/otlp-emit.ts);
 * rejected points are counted for partial_success; malformed bodies throw ProtocolError only.
 */
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeOtlp, exportResponse } from '../../src/protocols/otlp.ts';
import { jsonNestingWithin, MAX_JSON_NESTING } from '../../src/protocols/otlp-json.ts';
import { OtlpEmitter } from '../../src/protocols/otlp-emit.ts';
import { ProtocolError } from '../../src/protocols/protocol.ts';
import { createRecordEncoder } from '../../src/records/record-encoder.ts';
import { encode, ExportMetricsServiceRequest, ExportMetricsServiceResponse } from '../support/protos.ts';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const T = '1700000000123456789';
const T_MS = 1_700_000_000_123.456789;

function run(body: Uint8Array, json: boolean) {
  const enc = createRecordEncoder('msgpack');
  const em = new OtlpEmitter(enc);
  decodeOtlp(body, json, em);
  return { em, metrics: (unpackr.unpack(enc.finish()) as { metrics: Record<string, unknown>[] }).metrics };
}

const kv = (key: string, v: Record<string, unknown>) => ({ key, value: v });

const PROTO_REQ = {
  resource_metrics: [
    {
      resource: { attributes: [kv('service.name', { string_value: 'shop' }), kv('host', { string_value: 'r' })] },
      scope_metrics: [
        {
          scope: { name: 'meter', version: '1.2' },
          metrics: [
            { name: 'temp', unit: 'Cel', description: 'Temperature.', gauge: { data_points: [{ time_unix_nano: T, as_double: 21.5, attributes: [kv('host', { string_value: 'p' }), kv('n', { int_value: -3 }), kv('ok', { bool_value: true }), kv('list', { array_value: { values: [{ string_value: 'a' }, { int_value: 2 }] } })] }] } },
            { name: 'requests', sum: { is_monotonic: true, aggregation_temporality: 2, data_points: [{ time_unix_nano: T, as_int: 42 }] } },
            { name: 'inflight', sum: { is_monotonic: false, aggregation_temporality: 1, data_points: [{ time_unix_nano: T, as_int: -2 }] } },
            { name: 'latency', histogram: { aggregation_temporality: 2, data_points: [{ time_unix_nano: T, count: 6, sum: 3.5, explicit_bounds: [0.1, 1], bucket_counts: [1, 2, 3] }] } },
            { name: 'sizes', exponential_histogram: { aggregation_temporality: 2, data_points: [{ time_unix_nano: T, count: 5, sum: 10, scale: 2, zero_count: 1, positive: { offset: -1, bucket_counts: [1, 3] } }] } },
            { name: 'rpc', summary: { data_points: [{ time_unix_nano: T, count: 4, sum: 8, quantile_values: [{ quantile: 0.5, value: 1.5 }, { quantile: 0.99, value: 3 }] }] } },
            { name: 'bad', gauge: { data_points: [{ time_unix_nano: T }, { as_double: 1 }] } },
          ],
        },
      ],
    },
  ],
};

const akv = (key: string, v: Record<string, unknown>) => ({ key, value: v });
const JSON_REQ = {
  resourceMetrics: [
    {
      resource: { attributes: [akv('service.name', { stringValue: 'shop' }), akv('host', { stringValue: 'r' })] },
      scopeMetrics: [
        {
          scope: { name: 'meter', version: '1.2' },
          metrics: [
            { name: 'temp', unit: 'Cel', description: 'Temperature.', gauge: { dataPoints: [{ timeUnixNano: T, asDouble: 21.5, attributes: [akv('host', { stringValue: 'p' }), akv('n', { intValue: '-3' }), akv('ok', { boolValue: true }), akv('list', { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 2 }] } })] }] } },
            { name: 'requests', sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ timeUnixNano: T, asInt: '42' }] } },
            { name: 'inflight', sum: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: T, asInt: -2 }] } },
            { name: 'latency', histogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: T, count: '6', sum: 3.5, explicitBounds: [0.1, 1], bucketCounts: ['1', '2', '3'] }] } },
            { name: 'sizes', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: T, count: '5', sum: 10, scale: 2, zeroCount: '1', positive: { offset: -1, bucketCounts: ['1', '3'] } }] } },
            { name: 'rpc', summary: { dataPoints: [{ timeUnixNano: T, count: '4', sum: 8, quantileValues: [{ quantile: 0.5, value: 1.5 }, { quantile: 0.99, value: 3 }] }] } },
            { name: 'bad', gauge: { dataPoints: [{ timeUnixNano: T }, { asDouble: 1 }] } },
          ],
        },
      ],
    },
  ],
};

describe('OTLP decoding', () => {
  const proto = run(encode(ExportMetricsServiceRequest, PROTO_REQ), false);
  const json = run(Buffer.from(JSON.stringify(JSON_REQ)), true);

  it('protobuf and JSON encodings of one request give the same entries', () => {
    expect(json.metrics).toEqual(proto.metrics);
  });

  it('maps gauges, sums, histograms, exponential histograms and summaries with merged attributes', () => {
    const m = proto.metrics;
    const base = { 'service.name': 'shop', host: 'r', otel_scope_name: 'meter', otel_scope_version: '1.2' };
    expect(m[0]).toEqual({ name: 'temp', value: 21.5, timestamp: T_MS, type: 'gauge', unit: 'Cel', help: 'Temperature.', tags: { ...base, host: 'p', n: '-3', ok: 'true', list: '["a","2"]' } });
    expect(m[1]).toEqual({ name: 'requests', value: 42, timestamp: T_MS, type: 'counter', tags: base });
    expect(m[2]).toEqual({ name: 'inflight', value: -2, timestamp: T_MS, type: 'gauge', temporality: 'delta', tags: base });
    expect(m.slice(3, 8).map((e) => [e.name, (e.tags as Record<string, string>).le, e.value])).toEqual([
      ['latency_bucket', '0.1', 1], ['latency_bucket', '1', 3], ['latency_bucket', '+Inf', 6], ['latency_sum', undefined, 3.5], ['latency_count', undefined, 6],
    ]);
    expect(m[8]).toMatchObject({ name: 'sizes', value: 5, type: 'histogram', histogram: { schema: 2, count: 5, sum: 10, zero_count: 1, positive_spans: [{ offset: 0, length: 2 }], positive_counts: [1, 3], negative_counts: [] } });
    expect(m.slice(9).map((e) => [e.name, (e.tags as Record<string, string>).quantile, e.value, e.type])).toEqual([
      ['rpc', '0.5', 1.5, 'summary'], ['rpc', '0.99', 3, 'summary'], ['rpc_sum', undefined, 8, 'summary'], ['rpc_count', undefined, 4, 'summary'],
    ]);
  });

  it('counts rejected points for partial_success and answers it in both encodings', () => {
    expect(proto.em.rejected).toBe(2);
    expect(proto.em.firstError).toMatch(/bad: number data point without a value/);
    const pb = exportResponse(false, 2, 'why');
    expect(ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(pb.body as Uint8Array), { longs: Number })).toEqual({ partial_success: { rejected_data_points: 2, error_message: 'why' } });
    expect(JSON.parse(exportResponse(true, 2, 'why').body as string)).toEqual({ partialSuccess: { rejectedDataPoints: '2', errorMessage: 'why' } });
    expect((exportResponse(false, 0, '').body as Uint8Array).length).toBe(0);
  });

  it('throws only ProtocolError on malformed protobuf and JSON, deep nesting included', () => {
    const good = encode(ExportMetricsServiceRequest, PROTO_REQ);
    let seed = 5;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const check = (b: Uint8Array, json: boolean) => {
      try {
        run(b, json);
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
      }
    };
    for (let cut = 0; cut < good.length; cut += 3) check(good.subarray(0, cut), false);
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from(good);
      for (let k = 0; k < 3; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      check(b, false);
    }
    let deep: Record<string, unknown> = { string_value: 'x' };
    for (let d = 0; d < 20; d++) deep = { array_value: { values: [deep] } };
    const nested = encode(ExportMetricsServiceRequest, { resource_metrics: [{ resource: { attributes: [kv('d', deep)] } }] });
    expect(() => run(nested, false)).toThrow(/nested deeper/);
    expect(() => run(Buffer.from('['.repeat(100000)), true)).toThrow(ProtocolError);
    expect(() => run(Buffer.from('{"resourceMetrics":{}}'), true)).toThrow(/resourceMetrics must be an array/);
    expect(() => run(Buffer.from('{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"timeUnixNano":"12x"}]}}]}]}]}'), true)).toThrow(/timeUnixNano/);
  });
});

describe('OTLP/JSON nesting, judged before JSON.parse', () => {
  /** A data point attribute whose value nests `levels` kvlists below the first value. */
  function nestedAttribute(levels: number): string {
    let value = '{"stringValue":"x"}';
    for (let d = 0; d < levels; d++) value = `{"kvlistValue":{"values":[{"key":"k${d}","value":${value}}]}}`;
    const point = `{"timeUnixNano":"${T}","asDouble":1,"attributes":[{"key":"a","value":${value}}],"exemplars":[{"timeUnixNano":"${T}","asDouble":1,"filteredAttributes":[{"key":"f","value":${value}}]}]}`;
    return `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"deep","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1","sum":1,"bucketCounts":["1"],"explicitBounds":[],"timeUnixNano":"${T}"}]}},{"name":"g","gauge":{"dataPoints":[${point}]}}]}]}]}`;
  }

  it('the deepest body the schema allows decodes (values nested MAX_ANY_DEPTH lists, in an exemplar too)', () => {
    const { metrics } = run(Buffer.from(nestedAttribute(8)), true);
    expect(metrics.map((m) => m.name)).toContain('g');
    expect(() => run(Buffer.from(nestedAttribute(9)), true)).toThrow(/attribute value nested deeper than 8/);
  });

  it(`deeper than ${MAX_JSON_NESTING} is 400 at once, an unknown field too (JSON.parse took 0.75 s for one 300,000 deep)`, () => {
    const unknown = (depth: number) => Buffer.from(`{"resourceMetrics":[],"x":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`);
    expect(() => run(unknown(MAX_JSON_NESTING), true)).not.toThrow();
    expect(() => run(unknown(MAX_JSON_NESTING + 1), true)).toThrow(`brackets nested deeper than ${MAX_JSON_NESTING}`);
    expect(() => run(unknown(300_000), true)).toThrow(ProtocolError);
  });

  it('brackets in strings, escaped quotes among them, do not count', () => {
    const inString = `{"k":"${'['.repeat(100)}\\\"${'{'.repeat(100)}"}`;
    expect(JSON.parse(inString).k).toMatch(/^\[+"\{+$/);
    expect(jsonNestingWithin(Buffer.from(inString), 1)).toBe(true);
    // The quote after an escaped backslash ends the string: the brackets after it count.
    expect(jsonNestingWithin(Buffer.from('{"a":"\\\\"}[[['), 2)).toBe(false);
    expect(jsonNestingWithin(Buffer.from('[[{}]]'), 3)).toBe(true);
    expect(jsonNestingWithin(Buffer.from('[[{}]]'), 2)).toBe(false);
  });
});

describe('OTLP bodies that expand', () => {
  it('stop at the largest record (413), with linear work for many attributes', () => {
    // 5,000 resource attributes repeated on each of 5,000 points: 25M tags from ~400 KB.
    const attrs = Array.from({ length: 5000 }, (_, i) => kv(`attr_${i}`, { string_value: 'v' }));
    const points = Array.from({ length: 5000 }, () => ({ time_unix_nano: T, as_double: 1 }));
    const body = encode(ExportMetricsServiceRequest, { resource_metrics: [{ resource: { attributes: attrs }, scope_metrics: [{ metrics: [{ name: 'x', gauge: { data_points: points } }] }] }] });
    expect(body.length).toBeLessThan(1_000_000);
    // (Bounded work: the encoder stops at the record limit instead of writing 25M tags.)
    expect(() => run(body, false)).toThrow(expect.objectContaining({ status: 413 }));
    // Duplicate attribute keys: the last one wins, for long lists too.
    const dups = encode(ExportMetricsServiceRequest, {
      resource_metrics: [{ resource: { attributes: [...attrs.slice(0, 40), kv('attr_3', { string_value: 'last' })] }, scope_metrics: [{ metrics: [{ name: 'y', gauge: { data_points: [{ time_unix_nano: T, as_double: 2 }] } }] }] }],
    });
    const tags = run(dups, false).metrics[0]!.tags as Record<string, string>;
    expect(Object.keys(tags).length).toBe(40);
    expect(tags.attr_3).toBe('last');
  });
});
