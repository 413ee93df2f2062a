/**
 * OTLP/JSON `ExportMetricsServiceRequest` bodies (the protobuf JSON mapping with OTLP's
 * rules: lowerCamelCase keys, 64-bit integers as decimal strings or numbers, enums as
 * integers, trace/span ids in hex, bytes in base64), fed to the same OtlpEmitter as the
 * protobuf decoder. Unknown keys are ignored, as the spec requires. Shapes that are not
 * what the schema says throw OtlpJsonError (answered 400).
 */
import { exponentialToNative, type MetricInfo, type OtlpEmitter } from './otlp-emit.ts';

export class OtlpJsonError extends Error {}

type Obj = Record<string, unknown>;

const MAX_ANY_DEPTH = 8;

/**
 * How deep brackets may nest in an OTLP/JSON body before JSON.parse sees it. The deepest
 * the schema goes is about 47 (an exemplar's filtered attribute whose value nests
 * MAX_ANY_DEPTH lists: 15 levels to the first value, 4 per list); anything deeper is an
 * unknown field or a value decodeOtlpJson refuses anyway. JSON.parse spends about 1.4 µs
 * per level here: a 600 KB body of `[[[[...` held a worker's thread, and every connection
 * of that worker, for 0.75 s (bench/ISSUE-15.md, twenty-fourth round).
 */
export const MAX_JSON_NESTING = 64;

/**
 * Whether brackets in the JSON text `body` nest at most `max` deep, in one pass over its
 * bytes (strings skipped). Says nothing else about the text: JSON.parse judges that.
 */
export function jsonNestingWithin(body: Uint8Array, max: number): boolean {
  let depth = 0;
  for (let i = 0, n = body.length; i < n; i++) {
    const c = body[i]!;
    if (c === 0x22) {
      // A string: on to its closing quote, past escaped characters.
      for (i++; i < n; i++) {
        const d = body[i]!;
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}

function obj(v: unknown, where: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new OtlpJsonError(`${where} must be an object`);
  return v as Obj;
}

function arr(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new OtlpJsonError(`${where} must be an array`);
  return v;
}

function str(v: unknown, where: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new OtlpJsonError(`${where} must be a string`);
  return v;
}

/** A 64-bit integer field: a decimal string or a JSON number. */
function int(v: unknown, where: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  throw new OtlpJsonError(`${where} must be an integer (a decimal string or a number)`);
}

/** A double field: a number or one of "NaN", "Infinity", "-Infinity". */
function dbl(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new OtlpJsonError(`${where} must be a number`);
}

/** time_unix_nano (a decimal string, or a number) as ms, the integer part exact. */
function nanosMs(v: unknown, where: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v / 1e6;
  if (typeof v === 'string' && /^\d+$/.test(v)) {
    if (v.length <= 6) return Number(v) / 1e6;
    const whole = Number(v.slice(0, -6));
    const frac = Number(v.slice(-6));
    return frac === 0 ? whole : whole + frac / 1e6;
  }
  throw new OtlpJsonError(`${where} must be an unsigned integer in a string`);
}

function attributes(v: unknown, where: string): string[] {
  const out: string[] = [];
  const list = arr(v, where);
  for (let i = 0; i < list.length; i++) {
    const kv = obj(list[i], `${where}[${i}]`);
    const key = str(kv.key, `${where}[${i}].key`);
    const value = anyValue(kv.value, `${where}[${i}].value`, 0);
    out.push(key, typeof value === 'string' ? value : JSON.stringify(value)); // duplicates: last wins at the merge
  }
  return out;
}

function anyValue(v: unknown, where: string, depth: number): unknown {
  if (depth > MAX_ANY_DEPTH) throw new OtlpJsonError(`${where}: attribute value nested deeper than ${MAX_ANY_DEPTH}`);
  const o = obj(v, where);
  if (o.stringValue !== undefined) return str(o.stringValue, `${where}.stringValue`);
  if (o.boolValue !== undefined) return o.boolValue === true ? 'true' : 'false';
  if (o.intValue !== undefined) return String(int(o.intValue, `${where}.intValue`));
  if (o.doubleValue !== undefined) return String(dbl(o.doubleValue, `${where}.doubleValue`));
  if (o.bytesValue !== undefined) return str(o.bytesValue, `${where}.bytesValue`);
  if (o.arrayValue !== undefined) {
    return arr(obj(o.arrayValue, where).values, `${where}.arrayValue.values`).map((e, i) => anyValue(e, `${where}.arrayValue.values[${i}]`, depth + 1));
  }
  if (o.kvlistValue !== undefined) {
    const out: Record<string, unknown> = {};
    const list = arr(obj(o.kvlistValue, where).values, `${where}.kvlistValue.values`);
    for (let i = 0; i < list.length; i++) {
      const kv = obj(list[i], `${where}.kvlistValue.values[${i}]`);
      out[str(kv.key, 'key')] = anyValue(kv.value, `${where}.kvlistValue.values[${i}].value`, depth + 1);
    }
    return out;
  }
  return '';
}

/** Decodes a parsed OTLP/JSON request into the emitter; throws OtlpJsonError. */
export function decodeOtlpJson(body: unknown, em: OtlpEmitter): void {
  const req = obj(body, 'request');
  const rms = arr(req.resourceMetrics, 'resourceMetrics');
  for (let a = 0; a < rms.length; a++) {
    const rm = obj(rms[a], `resourceMetrics[${a}]`);
    em.resource(attributes(obj(rm.resource, 'resource').attributes, `resourceMetrics[${a}].resource.attributes`));
    const sms = arr(rm.scopeMetrics, `resourceMetrics[${a}].scopeMetrics`);
    for (let b = 0; b < sms.length; b++) {
      const sm = obj(sms[b], `scopeMetrics[${b}]`);
      const scope = obj(sm.scope, 'scope');
      em.scope(str(scope.name, 'scope.name'), str(scope.version, 'scope.version'));
      const metrics = arr(sm.metrics, `scopeMetrics[${b}].metrics`);
      for (let c = 0; c < metrics.length; c++) metric(obj(metrics[c], `metrics[${c}]`), `metrics[${c}]`, em);
    }
  }
}

function metric(m: Obj, where: string, em: OtlpEmitter): void {
  const info: MetricInfo = { name: str(m.name, `${where}.name`), help: str(m.description, `${where}.description`), unit: str(m.unit, `${where}.unit`) };
  if (m.gauge !== undefined || m.sum !== undefined) {
    const isSum = m.sum !== undefined;
    const d = obj(isSum ? m.sum : m.gauge, where);
    const type = isSum && d.isMonotonic === true ? 'counter' : 'gauge';
    const temporality = isSum ? int(d.aggregationTemporality, 'aggregationTemporality') : 0;
    const points = arr(d.dataPoints, `${where}.dataPoints`);
    for (let i = 0; i < points.length; i++) {
      const p = obj(points[i], `${where}.dataPoints[${i}]`);
      const w = `${where}.dataPoints[${i}]`;
      const value = p.asDouble !== undefined ? dbl(p.asDouble, `${w}.asDouble`) : p.asInt !== undefined ? int(p.asInt, `${w}.asInt`) : undefined;
      em.number(info, type, temporality, attributes(p.attributes, `${w}.attributes`), nanosMs(p.timeUnixNano, `${w}.timeUnixNano`), value, int(p.flags, `${w}.flags`));
    }
  } else if (m.histogram !== undefined) {
    const d = obj(m.histogram, where);
    const temporality = int(d.aggregationTemporality, 'aggregationTemporality');
    const points = arr(d.dataPoints, `${where}.dataPoints`);
    for (let i = 0; i < points.length; i++) {
      const w = `${where}.dataPoints[${i}]`;
      const p = obj(points[i], w);
      em.histogram(
        info,
        temporality,
        attributes(p.attributes, `${w}.attributes`),
        nanosMs(p.timeUnixNano, `${w}.timeUnixNano`),
        int(p.count, `${w}.count`),
        p.sum === undefined || p.sum === null ? undefined : dbl(p.sum, `${w}.sum`),
        arr(p.explicitBounds, `${w}.explicitBounds`).map((b, j) => dbl(b, `${w}.explicitBounds[${j}]`)),
        arr(p.bucketCounts, `${w}.bucketCounts`).map((b, j) => int(b, `${w}.bucketCounts[${j}]`)),
        int(p.flags, `${w}.flags`),
      );
    }
  } else if (m.exponentialHistogram !== undefined) {
    const d = obj(m.exponentialHistogram, where);
    const temporality = int(d.aggregationTemporality, 'aggregationTemporality');
    const points = arr(d.dataPoints, `${where}.dataPoints`);
    for (let i = 0; i < points.length; i++) {
      const w = `${where}.dataPoints[${i}]`;
      const p = obj(points[i], w);
      const pos = obj(p.positive, `${w}.positive`);
      const neg = obj(p.negative, `${w}.negative`);
      const h = exponentialToNative({
        count: int(p.count, `${w}.count`),
        sum: p.sum === undefined || p.sum === null ? undefined : dbl(p.sum, `${w}.sum`),
        scale: int(p.scale, `${w}.scale`),
        zeroCount: int(p.zeroCount, `${w}.zeroCount`),
        zeroThreshold: p.zeroThreshold === undefined ? 0 : dbl(p.zeroThreshold, `${w}.zeroThreshold`),
        positiveOffset: int(pos.offset, `${w}.positive.offset`),
        positive: arr(pos.bucketCounts, `${w}.positive.bucketCounts`).map((b, j) => int(b, `${w}.positive.bucketCounts[${j}]`)),
        negativeOffset: int(neg.offset, `${w}.negative.offset`),
        negative: arr(neg.bucketCounts, `${w}.negative.bucketCounts`).map((b, j) => int(b, `${w}.negative.bucketCounts[${j}]`)),
        min: p.min === undefined ? undefined : dbl(p.min, `${w}.min`),
        max: p.max === undefined ? undefined : dbl(p.max, `${w}.max`),
      });
      em.exponential(info, temporality, attributes(p.attributes, `${w}.attributes`), nanosMs(p.timeUnixNano, `${w}.timeUnixNano`), h as { count: number }, int(p.flags, `${w}.flags`));
    }
  } else if (m.summary !== undefined) {
    const d = obj(m.summary, where);
    const points = arr(d.dataPoints, `${where}.dataPoints`);
    for (let i = 0; i < points.length; i++) {
      const w = `${where}.dataPoints[${i}]`;
      const p = obj(points[i], w);
      const qs: number[] = [];
      const qv = arr(p.quantileValues, `${w}.quantileValues`);
      for (let j = 0; j < qv.length; j++) {
        const q = obj(qv[j], `${w}.quantileValues[${j}]`);
        qs.push(q.quantile === undefined ? 0 : dbl(q.quantile, 'quantile'), q.value === undefined ? 0 : dbl(q.value, 'value'));
      }
      em.summary(info, attributes(p.attributes, `${w}.attributes`), nanosMs(p.timeUnixNano, `${w}.timeUnixNano`), int(p.count, `${w}.count`), p.sum === undefined ? 0 : dbl(p.sum, `${w}.sum`), qs, int(p.flags, `${w}.flags`));
    }
  }
}
