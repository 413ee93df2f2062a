/**
 * Hand-written decoder of OTLP `ExportMetricsServiceRequest` protobuf bodies
 * (opentelemetry/proto/collector/metrics/v1/metrics_service.proto and metrics/v1/metrics.proto),
 * feeding OtlpEmitter (which decides the record entries) without an object tree.
 *
 *   ExportMetricsServiceRequest { 1 resource_metrics }
 *   ResourceMetrics { 1 resource, 2 scope_metrics }      Resource { 1 attributes }
 *   ScopeMetrics { 1 scope, 2 metrics }                  InstrumentationScope { 1 name, 2 version }
 *   Metric { 1 name, 2 description, 3 unit, 5 gauge, 7 sum, 9 histogram, 10 exponential_histogram, 11 summary }
 *   Gauge { 1 data_points }  Sum { 1 data_points, 2 temporality, 3 is_monotonic }
 *   Histogram / ExponentialHistogram { 1 data_points, 2 temporality }  Summary { 1 data_points }
 *   NumberDataPoint { 7 attributes, 3 time fixed64, 4 as_double, 6 as_int sfixed64, 8 flags }
 *   HistogramDataPoint { 9 attributes, 3 time, 4 count fixed64, 5 sum, 6 bucket_counts fixed64, 7 explicit_bounds, 10 flags }
 *   ExponentialHistogramDataPoint { 1 attributes, 3 time, 4 count, 5 sum, 6 scale sint32,
 *     7 zero_count fixed64, 8 positive, 9 negative, 10 flags, 12 min, 13 max, 14 zero_threshold }
 *   Buckets { 1 offset sint32, 2 bucket_counts uint64 }
 *   SummaryDataPoint { 7 attributes, 3 time, 4 count, 5 sum, 6 quantile_values, 8 flags }
 *   ValueAtQuantile { 1 quantile, 2 value }
 *   KeyValue { 1 key, 2 value }  AnyValue { 1 string, 2 bool, 3 int, 4 double, 5 array, 6 kvlist, 7 bytes }
 *
 * The Metric message's data field may precede its name in the bytes: the decoder reads
 * name, description and unit first, then the data (two passes over one small message).
 */
import { ProtoReader, I64, LEN, VARINT, WireError } from './wire.ts';
import { exponentialToNative, InPlaceAttributes, MAX_IN_PLACE_TAGS, type MetricInfo, type OtlpEmitter } from './otlp-emit.ts';

/** Nesting allowed inside attribute values (arrays and key-value lists). */
const MAX_ANY_DEPTH = 8;

/** Decodes `body` into the emitter; throws WireError on malformed protobuf. */
export function decodeOtlpProtobuf(body: Uint8Array, em: OtlpEmitter): void {
  const r = new ProtoReader(body);
  while (r.pos < r.end) {
    const t = r.uint32();
    if (t === ((1 << 3) | LEN)) {
      const end = r.lengthEnd();
      resourceMetrics(r, end, em);
      r.pos = end;
    } else r.skip(t & 7);
  }
}

/** Runs `fn` with the reader bounded to [pos, end), then continues after end. */
function within(r: ProtoReader, end: number, fn: () => void): void {
  const saved = r.end;
  r.end = end;
  fn();
  r.end = saved;
  r.pos = end;
}

/**
 * Runs `fn` inside each embedded message of field `tag` (number << 3 | LEN) from here to
 * the end of the current message, skipping every other field.
 */
function eachMessage(r: ProtoReader, tag: number, fn: () => void): void {
  while (r.pos < r.end) {
    const t = r.uint32();
    if (t === tag) within(r, r.lengthEnd(), fn);
    else r.skip(t & 7);
  }
}

function resourceMetrics(r: ProtoReader, end: number, em: OtlpEmitter): void {
  // The resource (field 1) must be known before its scope_metrics (field 2): find it first.
  const start = r.pos;
  let attrs: string[] = [];
  within(r, end, () =>
    eachMessage(r, (1 << 3) | LEN, () => {
      while (r.pos < r.end) {
        const rt = r.uint32();
        if (rt === ((1 << 3) | LEN)) keyValue(r, attrs);
        else r.skip(rt & 7);
      }
    }),
  );
  em.resource(attrs);
  attrs = [];
  r.pos = start;
  within(r, end, () => eachMessage(r, (2 << 3) | LEN, () => scopeMetrics(r, em)));
}

function scopeMetrics(r: ProtoReader, em: OtlpEmitter): void {
  const start = r.pos;
  let name = '';
  let version = '';
  eachMessage(r, (1 << 3) | LEN, () => {
    while (r.pos < r.end) {
      const st = r.uint32();
      if (st === ((1 << 3) | LEN)) name = r.string();
      else if (st === ((2 << 3) | LEN)) version = r.string();
      else r.skip(st & 7);
    }
  });
  em.scope(name, version);
  r.pos = start;
  eachMessage(r, (2 << 3) | LEN, () => metric(r, em));
}

/** The metric being read, reused for every metric (the emitter keeps none of it). */
const metricInfo: MetricInfo = { name: '', help: '', unit: '', nameStart: 0, nameEnd: 0 };

function metric(r: ProtoReader, em: OtlpEmitter): void {
  const start = r.pos;
  const m = metricInfo;
  m.name = m.help = m.unit = '';
  m.nameStart = m.nameEnd = 0;
  while (r.pos < r.end) {
    const t = r.uint32();
    if (t === ((1 << 3) | LEN)) {
      m.nameEnd = r.lengthEnd();
      m.nameStart = r.pos;
      m.name = r.stringAt(m.nameStart, m.nameEnd);
      r.pos = m.nameEnd;
    }
    else if (t === ((2 << 3) | LEN)) m.help = r.string();
    else if (t === ((3 << 3) | LEN)) m.unit = r.string();
    else r.skip(t & 7);
  }
  r.pos = start;
  while (r.pos < r.end) {
    const t = r.uint32();
    const field = t >>> 3;
    if ((t & 7) !== LEN || (field !== 5 && field !== 7 && field !== 9 && field !== 10 && field !== 11)) {
      r.skip(t & 7);
      continue;
    }
    const dend = r.lengthEnd();
    const saved = r.end;
    r.end = dend;
    data(r, em, m, field);
    r.end = saved;
    r.pos = dend;
  }
}

/** A Gauge/Sum/Histogram/ExponentialHistogram/Summary message. */
function data(r: ProtoReader, em: OtlpEmitter, m: MetricInfo, kind: number): void {
  const start = r.pos;
  let temporality = 0;
  let monotonic = false;
  while (r.pos < r.end) {
    const t = r.uint32();
    if (t === ((2 << 3) | VARINT)) temporality = r.uint32();
    else if (t === ((3 << 3) | VARINT)) monotonic = r.bool();
    else r.skip(t & 7);
  }
  r.pos = start;
  // eachMessage by hand: this runs for every metric, and a closure per call shows in the profile.
  while (r.pos < r.end) {
    const t = r.uint32();
    if (t !== ((1 << 3) | LEN)) {
      r.skip(t & 7);
      continue;
    }
    const pend = r.lengthEnd();
    const saved = r.end;
    r.end = pend;
    if (kind === 5 || kind === 7) numberPoint(r, em, m, kind === 7 && monotonic ? 'counter' : 'gauge', kind === 7 ? temporality : 0);
    else if (kind === 9) histogramPoint(r, em, m, temporality);
    else if (kind === 10) exponentialPoint(r, em, m, temporality);
    else summaryPoint(r, em, m);
    r.end = saved;
    r.pos = pend;
  }
}

/** A number point's attributes: reused, since the emitter copies them into the entry's tags. */
const numberAttrs: string[] = [];
/** The point's attributes read in place (one, reused: the emitter copies them into the entries). */
const inPlace = new InPlaceAttributes();
const attrRanges = inPlace.ranges;

/** `inPlace` with `count` attributes of `src`, for the emitter. */
function inPlaceAttributes(src: Uint8Array, count: number): InPlaceAttributes {
  inPlace.src = src;
  inPlace.count = count;
  return inPlace;
}

/**
 * The point's attributes (field number `field`) as byte ranges in attrRanges, read ahead
 * of its other fields; the reader is left where it was. Returns how many, or -1 when they
 * cannot be copied as they are: an attribute whose value is not a string, a non-ASCII key
 * or value, or more than `room` of them. The point is then read the string way (keyValue).
 * Why in place: InPlaceAttributes (otlp-emit.ts).
 */
function attributesInPlace(r: ProtoReader, field: number, room: number): number {
  if (room < 0) return -1; // the base tags alone are too many
  const start = r.pos;
  const tag = (field << 3) | LEN;
  let n = 0;
  while (r.pos < r.end) {
    const t = r.uint32();
    if (t !== tag) r.skip(t & 7);
    else if (n < room && stringAttribute(r, n)) n++;
    else {
      n = -1;
      break;
    }
  }
  r.pos = start;
  return n;
}

function numberPoint(r: ProtoReader, em: OtlpEmitter, m: MetricInfo, type: 'gauge' | 'counter', temporality: number): void {
  // attributesInPlace() folded into the one pass over the point (the common kind: a
  // second pass showed in the profile); on a point it cannot take, read again as strings.
  const start = r.pos;
  const room = MAX_IN_PLACE_TAGS - em.baseTagCount;
  let count = room < 0 ? -1 : 0;
  let ts = 0;
  let value: number | undefined;
  let flags = 0;
  while (r.pos < r.end) {
    const t = r.uint32();
    switch (t) {
      case (7 << 3) | LEN:
        if (count >= 0 && count < room) count = stringAttribute(r, count) ? count + 1 : -1;
        else {
          r.skip(LEN);
          count = -1; // the string way reads them all again
        }
        break;
      case (3 << 3) | I64: ts = r.nanosAsMillis(); break;
      case (4 << 3) | I64: value = r.double(); break;
      case (6 << 3) | I64: value = r.sfixed64(); break;
      case (8 << 3) | VARINT: flags = r.uint32(); break;
      default: r.skip(t & 7);
    }
  }
  if (count >= 0) {
    em.number(m, type, temporality, inPlaceAttributes(r.buf, count), ts, value, flags);
    return;
  }
  r.pos = start;
  const attrs = numberAttrs;
  attrs.length = 0;
  while (r.pos < r.end) {
    const t = r.uint32();
    if (t === ((7 << 3) | LEN)) keyValue(r, attrs);
    else r.skip(t & 7);
  }
  em.number(m, type, temporality, attrs, ts, value, flags);
}

/**
 * A KeyValue whose value is a string (or absent), both ASCII: its ranges go to
 * attrRanges[4 * at]. False for anything else, which keyValue then reads. Either way the
 * reader ends after the KeyValue. As in keyValue, a repeated key or value field: the last wins.
 */
function stringAttribute(r: ProtoReader, at: number): boolean {
  const end = r.lengthEnd();
  const saved = r.end;
  r.end = end;
  let keyStart = 0;
  let keyEnd = 0;
  let valueStart = 0;
  let valueEnd = 0;
  let plain = true;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | LEN)) {
      keyEnd = r.lengthEnd();
      keyStart = r.pos;
      r.pos = keyEnd;
    } else if (t === ((2 << 3) | LEN)) {
      const vend = r.lengthEnd();
      r.end = vend;
      valueStart = valueEnd = 0; // an empty AnyValue is ''
      while (r.pos < vend) {
        const vt = r.uint32();
        if (vt === ((1 << 3) | LEN)) {
          valueEnd = r.lengthEnd();
          valueStart = r.pos;
          r.pos = valueEnd;
        } else {
          plain = false;
          r.skip(vt & 7);
        }
      }
      r.end = end;
    } else r.skip(t & 7);
  }
  r.end = saved;
  r.pos = end;
  if (!plain || !ascii(r.buf, keyStart, keyEnd) || !ascii(r.buf, valueStart, valueEnd)) return false;
  const a = 4 * at;
  attrRanges[a] = keyStart;
  attrRanges[a + 1] = keyEnd;
  attrRanges[a + 2] = valueStart;
  attrRanges[a + 3] = valueEnd;
  return true;
}

function ascii(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) return false;
  return true;
}

function histogramPoint(r: ProtoReader, em: OtlpEmitter, m: MetricInfo, temporality: number): void {
  const attrCount = attributesInPlace(r, 9, MAX_IN_PLACE_TAGS - em.baseTagCount - 1); // and `le`
  const attrs: string[] = [];
  const counts: number[] = [];
  const bounds: number[] = [];
  let ts = 0;
  let count = 0;
  let sum: number | undefined;
  let flags = 0;
  while (r.pos < r.end) {
    const t = r.uint32();
    switch (t) {
      case (9 << 3) | LEN:
        if (attrCount >= 0) r.skip(LEN);
        else keyValue(r, attrs);
        break;
      case (3 << 3) | I64: ts = r.nanosAsMillis(); break;
      case (4 << 3) | I64: count = r.fixed64(); break;
      case (5 << 3) | I64: sum = r.double(); break;
      case (6 << 3) | LEN: packed(r, counts, () => r.fixed64()); break;
      case (6 << 3) | I64: counts.push(r.fixed64()); break;
      case (7 << 3) | LEN: packed(r, bounds, () => r.double()); break;
      case (7 << 3) | I64: bounds.push(r.double()); break;
      case (10 << 3) | VARINT: flags = r.uint32(); break;
      default: r.skip(t & 7);
    }
  }
  em.histogram(m, temporality, attrCount >= 0 ? inPlaceAttributes(r.buf, attrCount) : attrs, ts, count, sum, bounds, counts, flags);
}

function exponentialPoint(r: ProtoReader, em: OtlpEmitter, m: MetricInfo, temporality: number): void {
  const attrCount = attributesInPlace(r, 1, MAX_IN_PLACE_TAGS - em.baseTagCount);
  const attrs: string[] = [];
  let ts = 0;
  let flags = 0;
  const p = {
    count: 0,
    sum: undefined as number | undefined,
    scale: 0,
    zeroCount: 0,
    zeroThreshold: 0,
    positiveOffset: 0,
    positive: [] as number[],
    negativeOffset: 0,
    negative: [] as number[],
    min: undefined as number | undefined,
    max: undefined as number | undefined,
  };
  while (r.pos < r.end) {
    const t = r.uint32();
    switch (t) {
      case (1 << 3) | LEN:
        if (attrCount >= 0) r.skip(LEN);
        else keyValue(r, attrs);
        break;
      case (3 << 3) | I64: ts = r.nanosAsMillis(); break;
      case (4 << 3) | I64: p.count = r.fixed64(); break;
      case (5 << 3) | I64: p.sum = r.double(); break;
      case (6 << 3) | VARINT: p.scale = r.sint64(); break;
      case (7 << 3) | I64: p.zeroCount = r.fixed64(); break;
      case (8 << 3) | LEN: p.positiveOffset = buckets(r, p.positive); break;
      case (9 << 3) | LEN: p.negativeOffset = buckets(r, p.negative); break;
      case (10 << 3) | VARINT: flags = r.uint32(); break;
      case (12 << 3) | I64: p.min = r.double(); break;
      case (13 << 3) | I64: p.max = r.double(); break;
      case (14 << 3) | I64: p.zeroThreshold = r.double(); break;
      default: r.skip(t & 7);
    }
  }
  const histogram = exponentialToNative(p) as { count: number };
  em.exponential(m, temporality, attrCount >= 0 ? inPlaceAttributes(r.buf, attrCount) : attrs, ts, histogram, flags);
}

function buckets(r: ProtoReader, out: number[]): number {
  const end = r.lengthEnd();
  let offset = 0;
  within(r, end, () => {
    while (r.pos < r.end) {
      const t = r.uint32();
      if (t === ((1 << 3) | VARINT)) offset = r.sint64();
      else if (t === ((2 << 3) | LEN)) packed(r, out, () => r.uint64());
      else if (t === ((2 << 3) | VARINT)) out.push(r.uint64());
      else r.skip(t & 7);
    }
  });
  return offset;
}

function summaryPoint(r: ProtoReader, em: OtlpEmitter, m: MetricInfo): void {
  const attrCount = attributesInPlace(r, 7, MAX_IN_PLACE_TAGS - em.baseTagCount - 1); // and `quantile`
  const attrs: string[] = [];
  const quantiles: number[] = [];
  let ts = 0;
  let count = 0;
  let sum = 0;
  let flags = 0;
  while (r.pos < r.end) {
    const t = r.uint32();
    switch (t) {
      case (7 << 3) | LEN:
        if (attrCount >= 0) r.skip(LEN);
        else keyValue(r, attrs);
        break;
      case (3 << 3) | I64: ts = r.nanosAsMillis(); break;
      case (4 << 3) | I64: count = r.fixed64(); break;
      case (5 << 3) | I64: sum = r.double(); break;
      case (6 << 3) | LEN: {
        const qend = r.lengthEnd();
        let q = 0;
        let v = 0;
        within(r, qend, () => {
          while (r.pos < r.end) {
            const qt = r.uint32();
            if (qt === ((1 << 3) | I64)) q = r.double();
            else if (qt === ((2 << 3) | I64)) v = r.double();
            else r.skip(qt & 7);
          }
        });
        quantiles.push(q, v);
        break;
      }
      case (8 << 3) | VARINT: flags = r.uint32(); break;
      default: r.skip(t & 7);
    }
  }
  em.summary(m, attrCount >= 0 ? inPlaceAttributes(r.buf, attrCount) : attrs, ts, count, sum, quantiles, flags);
}

function packed(r: ProtoReader, out: number[], one: () => number): void {
  const end = r.lengthEnd();
  within(r, end, () => {
    while (r.pos < r.end) out.push(one());
  });
}

/** A KeyValue message: pushes key and the value as a string onto `attrs`. */
function keyValue(r: ProtoReader, attrs: string[]): void {
  // `within` by hand (twice): this runs for every attribute of every point.
  const end = r.lengthEnd();
  const saved = r.end;
  r.end = end;
  let key = '';
  let value = '';
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | LEN)) key = r.string();
    else if (t === ((2 << 3) | LEN)) {
      const vend = r.lengthEnd();
      r.end = vend;
      const v = anyValue(r, 0);
      r.end = end;
      r.pos = vend;
      value = typeof v === 'string' ? v : JSON.stringify(v);
    } else r.skip(t & 7);
  }
  r.end = saved;
  r.pos = end;
  attrs.push(key, value); // duplicates are resolved when the tags are merged (last wins)
}

/**
 * An AnyValue message (reader bounded to it) as a JS value: strings as strings, ints and
 * bools as their decimal/`true`/`false` strings at the top level (tags are strings), arrays
 * and lists as JSON-able values. Nesting deeper than MAX_ANY_DEPTH is refused.
 */
function anyValue(r: ProtoReader, depth: number): unknown {
  if (depth > MAX_ANY_DEPTH) throw new WireError(`attribute value nested deeper than ${MAX_ANY_DEPTH}`);
  let out: unknown = '';
  while (r.pos < r.end) {
    const t = r.uint32();
    switch (t) {
      case (1 << 3) | LEN: out = r.string(); break;
      case (2 << 3) | VARINT: out = r.bool() ? 'true' : 'false'; break;
      case (3 << 3) | VARINT: out = String(r.int64()); break;
      case (4 << 3) | I64: out = String(r.double()); break;
      case (5 << 3) | LEN:
      case (6 << 3) | LEN: {
        const isList = t === ((6 << 3) | LEN);
        const lend = r.lengthEnd();
        const arr: unknown[] = [];
        const obj: Record<string, unknown> = {};
        within(r, lend, () => {
          while (r.pos < r.end) {
            const et = r.uint32();
            if (et !== ((1 << 3) | LEN)) {
              r.skip(et & 7);
              continue;
            }
            const eend = r.lengthEnd();
            within(r, eend, () => {
              if (!isList) arr.push(anyValue(r, depth + 1));
              else {
                let k = '';
                let v: unknown = '';
                while (r.pos < r.end) {
                  const kt = r.uint32();
                  if (kt === ((1 << 3) | LEN)) k = r.string();
                  else if (kt === ((2 << 3) | LEN)) {
                    const kvend = r.lengthEnd();
                    within(r, kvend, () => {
                      v = anyValue(r, depth + 1);
                    });
                  } else r.skip(kt & 7);
                }
                obj[k] = v;
              }
            });
          }
        });
        out = isList ? obj : arr;
        break;
      }
      case (7 << 3) | LEN: {
        const bend = r.lengthEnd();
        out = Buffer.from(r.buf.buffer, r.buf.byteOffset + r.pos, bend - r.pos).toString('base64');
        r.pos = bend;
        break;
      }
      default: r.skip(t & 7);
    }
  }
  return out;
}
