/**
 * Points read in place (string attributes as byte ranges, OtlpEmitter's *InPlace
 * methods) against the string way, which the OTLP/JSON decoder always takes: for
 * generated requests of every point kind (attributes that override resource and scope
 * tags or `le`/`quantile`, duplicate keys, non-string and non-ASCII values, more tags than
 * MAX_IN_PLACE_TAGS, rejected points),
 * the protobuf and the JSON encoding of one request must give the same record, byte for
 * byte, and the same rejections.
 */
import { describe, expect, it } from 'vitest';
import { decodeOtlp } from '../../src/protocols/otlp.ts';
import { MAX_IN_PLACE_TAGS, OtlpEmitter } from '../../src/protocols/otlp-emit.ts';
import { createRecordEncoder } from '../../src/records/record-encoder.ts';
import { encode, ExportMetricsServiceRequest } from '../support/protos.ts';
import { orderedMsgpack } from '../support/ordered-msgpack.ts';
import { pick, prng } from '../support/prng.ts';

/** The entries of an ordered record: each a [field, value] list. */
function list(record: unknown): [string, unknown][][] {
  return (record as [string, [string, unknown][][]][])[0]![1];
}

/** The record (byte for byte, and as data for a readable difference) and the rejections. */
function decode(body: Uint8Array, json: boolean) {
  const enc = createRecordEncoder('msgpack');
  const em = new OtlpEmitter(enc);
  decodeOtlp(body, json, em);
  const bytes = enc.finish();
  return { entries: orderedMsgpack(bytes), bytes: Buffer.from(bytes).toString('hex'), rejected: em.rejected, firstError: em.firstError, points: em.points };
}

type Value = { kind: 'string'; v: string } | { kind: 'int'; v: number } | { kind: 'bool'; v: boolean } | { kind: 'array'; v: string[] } | { kind: 'none' };
type Attr = { key: string; value: Value };

const KEYS = ['host', 'job', 'service.name', 'otel_scope_name', 'region', 'k', 'le', 'quantile', '', 'clé', 'a.b.c'];
const STRINGS = ['a', 'bench', '', 'server-01', 'Zürich', '東京', 'x'.repeat(40), '0'];

function value(random: () => number): Value {
  const r = random();
  if (r < 0.8) return { kind: 'string', v: pick(random, STRINGS.slice(0, 4).concat(r < 0.72 ? [] : STRINGS)) };
  if (r < 0.86) return { kind: 'int', v: Math.floor(random() * 2000) - 1000 };
  if (r < 0.92) return { kind: 'bool', v: random() < 0.5 };
  if (r < 0.96) return { kind: 'array', v: ['a', 'b'] };
  return { kind: 'none' };
}

/** `n` attributes; long lists have distinct keys, so that they reach MAX_IN_PLACE_TAGS. */
function attrs(random: () => number, n: number): Attr[] {
  return Array.from({ length: n }, (_, i) => ({ key: n > 8 ? `attr_${i}` : random() < 0.85 ? pick(random, KEYS.slice(0, 6)) : pick(random, KEYS), value: n > 8 && random() < 0.9 ? { kind: 'string', v: 'v' } : value(random) }));
}

const protoValue = (v: Value): Record<string, unknown> =>
  v.kind === 'string' ? { string_value: v.v } : v.kind === 'int' ? { int_value: v.v } : v.kind === 'bool' ? { bool_value: v.v } : v.kind === 'array' ? { array_value: { values: v.v.map((s) => ({ string_value: s })) } } : {};
const jsonValue = (v: Value): Record<string, unknown> =>
  v.kind === 'string' ? { stringValue: v.v } : v.kind === 'int' ? { intValue: String(v.v) } : v.kind === 'bool' ? { boolValue: v.v } : v.kind === 'array' ? { arrayValue: { values: v.v.map((s) => ({ stringValue: s })) } } : {};

/**
 * `list` with one byte moved across a key/value boundary ({ab: c} -> {a: bc}) or, when
 * there is none to move, a value one byte longer: the same bytes in a row, not the same
 * attributes.
 */
function nearCopy(list: Attr[]): Attr[] {
  const out = list.map((a) => ({ ...a }));
  const i = out.findIndex((a) => a.key.length > 1 && a.value.kind === 'string');
  if (i >= 0) {
    const a = out[i]!;
    out[i] = { key: a.key.slice(0, -1), value: { kind: 'string', v: a.key.slice(-1) + (a.value as { v: string }).v } };
  } else if (out.length > 0 && out[0]!.value.kind === 'string') out[0] = { ...out[0]!, value: { kind: 'string', v: (out[0]!.value as { v: string }).v + 'x' } };
  return out;
}

/** One generated request as protobuf (protobufjs) and as OTLP/JSON. */
function request(random: () => number): { proto: Uint8Array; json: Buffer } {
  // Points often carry the previous point's attributes (the metrics of one scope share
  // theirs), also across a scope or resource, or nearly them (OtlpEmitter reuses the
  // tags it merged for the previous point only when the bytes are the same).
  let previous: Attr[] = [];
  const P: Record<string, unknown>[] = [];
  const J: Record<string, unknown>[] = [];
  for (let r = 1 + Math.floor(random() * 2); r > 0; r--) {
    const resourceAttrs = attrs(random, random() < 0.1 ? MAX_IN_PLACE_TAGS + Math.floor(random() * 5) - 4 : Math.floor(random() * 5));
    const ps: Record<string, unknown>[] = [];
    const js: Record<string, unknown>[] = [];
    for (let s = 1 + Math.floor(random() * 2); s > 0; s--) {
      // Names and versions of one length: a scope's tags that differ from the previous
      // scope's only in their bytes.
      const scope = { name: pick(random, ['meter', 'metre', '', '']), version: pick(random, ['1.0', '2.0', '', '']) };
      const pm: Record<string, unknown>[] = [];
      const jm: Record<string, unknown>[] = [];
      for (let m = 1 + Math.floor(random() * 5); m > 0; m--) {
        const name = random() < 0.95 ? pick(random, ['cpu', 'requests', 'température', 'a_very_long_metric_name_of_an_instrumented_library']) : '';
        const points: { attrs: Attr[]; time: boolean; value?: number; int: boolean; flags: number }[] = [];
        for (let p = 1 + Math.floor(random() * 3); p > 0; p--) {
          const many = random() < 0.1;
          const reuse = random();
          previous = reuse < 0.35 ? previous : reuse < 0.45 ? nearCopy(previous) : attrs(random, many ? MAX_IN_PLACE_TAGS + Math.floor(random() * 6) - 6 : Math.floor(random() * 6));
          points.push({
            attrs: previous,
            time: random() < 0.97,
            value: random() < 0.95 ? Math.floor(random() * 100) : undefined,
            int: random() < 0.3,
            flags: random() < 0.05 ? 1 : 0,
          });
        }
        const kind = pick(random, ['gauge', 'sum', 'sum', 'histogram', 'exponential', 'summary'] as const);
        const monotonic = random() < 0.5;
        const temporality = random() < 0.5 ? 1 : 2;
        const bounds = [0.005, 0.1, 1, 2.5, 1e21].slice(0, Math.floor(random() * 6));
        const extra = (p: (typeof points)[number]) => {
          // A histogram whose bucket counts do not match its bounds now and then: rejected.
          const counts = Array.from({ length: random() < 0.05 ? bounds.length : bounds.length + 1 }, (_, b) => b + (p.value ?? 0));
          return { counts, sum: p.value === undefined ? undefined : p.value * 1.5 };
        };
        const pp: Record<string, unknown>[] = [];
        const jp: Record<string, unknown>[] = [];
        for (const p of points) {
          const pa = { attributes: p.attrs.map((a) => ({ key: a.key, value: protoValue(a.value) })), ...(p.time ? { time_unix_nano: '1700000000123456789' } : {}), flags: p.flags };
          const ja = { attributes: p.attrs.map((a) => ({ key: a.key, value: jsonValue(a.value) })), ...(p.time ? { timeUnixNano: '1700000000123456789' } : {}), flags: p.flags };
          if (kind === 'gauge' || kind === 'sum') {
            pp.push({ ...pa, ...(p.value === undefined ? {} : p.int ? { as_int: p.value } : { as_double: p.value + 0.5 }) });
            jp.push({ ...ja, ...(p.value === undefined ? {} : p.int ? { asInt: String(p.value) } : { asDouble: p.value + 0.5 }) });
          } else if (kind === 'histogram') {
            const { counts, sum } = extra(p);
            const total = counts.reduce((a, b) => a + b, 0);
            pp.push({ ...pa, count: total, ...(sum === undefined ? {} : { sum }), explicit_bounds: bounds, bucket_counts: counts });
            jp.push({ ...ja, count: String(total), ...(sum === undefined ? {} : { sum }), explicitBounds: bounds, bucketCounts: counts.map(String) });
          } else if (kind === 'exponential') {
            pp.push({ ...pa, count: 3, sum: 4.5, scale: 1, zero_count: 1, positive: { offset: -1, bucket_counts: [1, 1] } });
            jp.push({ ...ja, count: '3', sum: 4.5, scale: 1, zeroCount: '1', positive: { offset: -1, bucketCounts: ['1', '1'] } });
          } else {
            const q = [0.5, 0.99].slice(0, Math.floor(random() * 3));
            pp.push({ ...pa, count: 4, sum: 8, quantile_values: q.map((quantile) => ({ quantile, value: quantile * 10 })) });
            jp.push({ ...ja, count: '4', sum: 8, quantileValues: q.map((quantile) => ({ quantile, value: quantile * 10 })) });
          }
        }
        const data = (dp: Record<string, unknown>[], json: boolean): Record<string, unknown> => {
          const points = json ? { dataPoints: dp } : { data_points: dp };
          const t = json ? { aggregationTemporality: temporality } : { aggregation_temporality: temporality };
          if (kind === 'gauge') return { gauge: points };
          if (kind === 'sum') return { sum: { ...points, ...t, ...(json ? { isMonotonic: monotonic } : { is_monotonic: monotonic }) } };
          if (kind === 'histogram') return { histogram: { ...points, ...t } };
          if (kind === 'exponential') return json ? { exponentialHistogram: { ...points, ...t } } : { exponential_histogram: { ...points, ...t } };
          return { summary: points };
        };
        pm.push({ name, unit: 'By', ...data(pp, false) });
        jm.push({ name, unit: 'By', ...data(jp, true) });
      }
      ps.push({ scope, metrics: pm });
      js.push({ scope, metrics: jm });
    }
    P.push({ resource: { attributes: resourceAttrs.map((a) => ({ key: a.key, value: protoValue(a.value) })) }, scope_metrics: ps });
    J.push({ resource: { attributes: resourceAttrs.map((a) => ({ key: a.key, value: jsonValue(a.value) })) }, scopeMetrics: js });
  }
  return { proto: encode(ExportMetricsServiceRequest, { resource_metrics: P }), json: Buffer.from(JSON.stringify({ resourceMetrics: J })) };
}

describe('OTLP points read in place', () => {
  it('give the entries and rejections of the string way, for 1500 generated requests', () => {
    const random = prng(4242);
    let entries = 0;
    let rejected = 0;
    for (let n = 0; n < 1500; n++) {
      const { proto, json } = request(random);
      const a = decode(proto, false);
      const b = decode(json, true);
      expect(a, `request ${n}`).toEqual(b);
      entries += list(a.entries).length;
      rejected += a.rejected;
    }
    // Both outcomes are common enough for the comparison to mean something.
    expect(entries).toBeGreaterThan(5000);
    expect(rejected).toBeGreaterThan(100);
  });

  it('a point attribute replaces a resource or scope tag in its place; the last of a repeated key wins', () => {
    const kv = (key: string, v: string) => ({ key, value: { string_value: v } });
    const body = encode(ExportMetricsServiceRequest, {
      resource_metrics: [
        {
          resource: { attributes: [kv('service.name', 'shop'), kv('host', 'r')] },
          scope_metrics: [{ scope: { name: 'meter' }, metrics: [{ name: 'temp', gauge: { data_points: [{ time_unix_nano: '1700000000000000000', as_double: 1, attributes: [kv('job', 'j1'), kv('host', 'p'), kv('otel_scope_name', 'mine'), kv('job', 'j2')] }] } }] }],
        },
      ],
    });
    const entry = new Map(list(decode(body, false).entries)[0]);
    expect(entry.get('tags')).toEqual([['service.name', 'shop'], ['host', 'p'], ['otel_scope_name', 'mine'], ['job', 'j2']]);
  });
});
