/**
 * Decodes Prometheus remote_write bodies (already un-snappied) straight into the record
 * format: 1.0 `prometheus.WriteRequest` and 2.0 `io.prometheus.write.v2.Request`. No
 * object per sample is built: each series' labels are read once, prepared once in the
 * record encoding, and every sample appends only its value and timestamp.
 *
 * Field numbers (prompb/types.proto, prompb/remote.proto, prompb/io/prometheus/write/v2/types.proto):
 *   v1 WriteRequest { 1 timeseries, 3 metadata }
 *      TimeSeries { 1 labels, 2 samples, 3 exemplars, 4 histograms }
 *      Label { 1 name, 2 value }  Sample { 1 value double, 2 timestamp int64 }
 *      MetricMetadata { 1 type, 2 metric_family_name, 4 help, 5 unit }
 *   v2 Request { 4 symbols, 5 timeseries }
 *      TimeSeries { 1 labels_refs, 2 samples, 3 histograms, 4 exemplars, 5 metadata, 6 created_timestamp }
 *      Metadata { 1 type, 3 help_ref, 4 unit_ref }
 *   Histogram (both) { 1 count_int, 2 count_float, 3 sum, 4 schema, 5 zero_threshold,
 *      6 zero_count_int, 7 zero_count_float, 8 negative_spans, 9 negative_deltas,
 *      10 negative_counts, 11 positive_spans, 12 positive_deltas, 13 positive_counts,
 *      14 reset_hint, 15 timestamp, 16 custom_values }  BucketSpan { 1 offset, 2 length }
 *
 * Validation (remote write spec 1.0 "Labels", 2.0 "Labels"): every series needs a
 * non-empty `__name__`; label names must be non-empty and unique within a series; a label
 * with an empty value is treated as absent (the spec says so); label order is not
 * required (senders sort; we do not depend on it). A violation rejects the whole request
 * (400: the sender must not retry it).
 */
import type { PreparedSeries, RecordEncoder, SeriesMeta } from '../records/record-encoder.ts';
import { firstDuplicate, sameBytes } from '../records/tags.ts';
import { isUtf8 } from 'node:buffer';
import { I64, LEN, ProtoReader, VARINT, WireError, utf8Slice } from './wire.ts';

/** Bad data: answered 400 (never retried). */
export class RemoteWriteError extends Error {}

export interface RemoteWriteStats {
  samples: number;
  histograms: number;
  /** Exemplars seen; they are not stored (the record format has no place for them). */
  exemplars: number;
  /** Exemplars stored: always 0, reported in the 2.0 -Exemplars-Written header. */
  exemplarsWritten: number;
  /** v1 metadata entries seen. */
  metadata: number;
}

const TYPE_NAMES = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset'];

/** A native histogram in the record format's `histogram` object (README "Record format"). */
export interface NativeHistogram {
  schema: number;
  count: number;
  sum: number;
  zero_threshold: number;
  zero_count: number;
  positive_spans: { offset: number; length: number }[];
  /** Absolute bucket counts (remote_write's deltas are summed up). */
  positive_counts: number[];
  negative_spans: { offset: number; length: number }[];
  negative_counts: number[];
  reset_hint?: string;
  custom_values?: number[];
}

const RESET_HINTS = ['unknown', 'yes', 'no', 'gauge'];

function newStats(): RemoteWriteStats {
  return { samples: 0, histograms: 0, exemplars: 0, exemplarsWritten: 0, metadata: 0 };
}

/** Decodes a remote_write 1.0 WriteRequest into `enc`. Throws RemoteWriteError on bad data. */
export function decodeWriteRequestV1(body: Uint8Array, enc: RecordEncoder): RemoteWriteStats {
  try {
    return decodeV1(body, enc);
  } catch (e) {
    if (e instanceof WireError) throw new RemoteWriteError(`malformed protobuf WriteRequest: ${e.message}`);
    throw e;
  }
}

/** Decodes a remote_write 2.0 Request into `enc`. Throws RemoteWriteError on bad data. */
export function decodeWriteRequestV2(body: Uint8Array, enc: RecordEncoder): RemoteWriteStats {
  try {
    return decodeV2(body, enc);
  } catch (e) {
    if (e instanceof WireError) throw new RemoteWriteError(`malformed protobuf io.prometheus.write.v2.Request: ${e.message}`);
    throw e;
  }
}

// Scratch space reused across series (a worker decodes one request at a time).
const names: string[] = [];
const values: string[] = [];
const tags: string[] = [];
let rangeStarts = new Int32Array(64);
let rangeEnds = new Int32Array(64);
let rangeKinds = new Uint8Array(64);
const R_SAMPLE = 1;
const R_HISTOGRAM = 2;

function pushRange(n: number, kind: number, start: number, end: number): number {
  if (n === rangeStarts.length) {
    const grow = (a: Int32Array) => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    rangeStarts = grow(rangeStarts);
    rangeEnds = grow(rangeEnds);
    const k = new Uint8Array(rangeKinds.length * 2);
    k.set(rangeKinds);
    rangeKinds = k;
  }
  rangeStarts[n] = start;
  rangeEnds[n] = end;
  rangeKinds[n] = kind;
  return n + 1;
}

/**
 * Checks the label set in `names`/`values` (count n) and fills `tags`; returns the
 * metric name. Throws RemoteWriteError naming the series.
 */
function labelsToTags(n: number, series: number): string {
  let metric = '';
  tags.length = 0;
  const dup = firstDuplicate(names, n);
  if (dup !== undefined) throw new RemoteWriteError(`timeseries[${series}]: duplicate label name "${dup}"`);
  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    if (name.length === 0) throw new RemoteWriteError(`timeseries[${series}]: empty label name`);
    const value = values[i]!;
    if (name === '__name__') metric = value;
    else if (value.length > 0) tags.push(name, value);
  }
  if (metric.length === 0) throw new RemoteWriteError(`timeseries[${series}]: no metric name (label __name__)`);
  return metric;
}

function decodeV1(body: Uint8Array, enc: RecordEncoder): RemoteWriteStats {
  const stats = newStats();
  const r = new ProtoReader(body);
  // Pass 1: metadata (field 3) may follow the series it describes; collect it first.
  let metadata: Map<string, SeriesMeta> | undefined;
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === ((3 << 3) | LEN)) {
      const end = r.lengthEnd();
      const m = readMetadataV1(r, end);
      stats.metadata++;
      if (m.family.length > 0) (metadata ??= new Map()).set(m.family, m.meta);
      r.pos = end;
    } else r.skip(tag & 7);
  }
  // Pass 2: the series.
  r.pos = 0;
  let series = 0;
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag !== ((1 << 3) | LEN)) {
      r.skip(tag & 7);
      continue;
    }
    const end = r.lengthEnd();
    let nLabels = 0;
    let nRanges = 0;
    while (r.pos < end) {
      const t = r.uint32();
      const field = t >>> 3;
      if (field === 1 && (t & 7) === LEN) {
        // Labels stay byte ranges of the body: msgpack records copy them as they are.
        const lend = r.lengthEnd();
        const ls = r.pos;
        let ns = 0, ne = 0, vs = 0, ve = 0;
        while (r.pos < lend) {
          const lt = r.uint32();
          if (lt === ((1 << 3) | LEN)) {
            ne = r.lengthEnd();
            ns = r.pos;
            r.pos = ne;
          } else if (lt === ((2 << 3) | LEN)) {
            ve = r.lengthEnd();
            vs = r.pos;
            r.pos = ve;
          } else r.skip(lt & 7);
        }
        if (r.pos !== lend) throw new WireError('label runs past its message');
        if (L * nLabels + L > labelRanges.length) labelRanges = growInt32(labelRanges);
        const at = L * nLabels;
        labelRanges[at] = ns;
        labelRanges[at + 1] = ne;
        labelRanges[at + 2] = vs;
        labelRanges[at + 3] = ve;
        labelRanges[at + 4] = ls;
        labelRanges[at + 5] = lend;
        nLabels++;
      } else if ((field === 2 || field === 4) && (t & 7) === LEN) {
        const send = r.lengthEnd();
        nRanges = pushRange(nRanges, field === 2 ? R_SAMPLE : R_HISTOGRAM, r.pos, send);
        r.pos = send;
      } else if (field === 3 && (t & 7) === LEN) {
        stats.exemplars++;
        r.skip(LEN);
      } else r.skip(t & 7);
    }
    const tagCount = labelRangesToSeries(r.buf, nLabels, series);
    // The name as a string only when something needs it (metadata lookup).
    const meta = metadata === undefined ? undefined : lookupMeta(metadata, utf8Slice(r.nodeBuf, seriesRanges[0]!, seriesRanges[1]!));
    emitRanges(r, enc, undefined, tagCount, meta, nRanges, stats);
    r.pos = end;
    series++;
  }
  return stats;
}

/** Per label of the series being read: name start/end, value start/end, the Label message's start/end. */
let labelRanges: Int32Array = new Int32Array(96);
const L = 6;
/** [nameStart, nameEnd, key0Start, key0End, value0Start, value0End, ...]: the series to encode. */
let seriesRanges: Int32Array = new Int32Array(64);

function growInt32(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

const NAME_LABEL = Buffer.from('__name__');

/** Whether the 8 bytes at b[s] are `__name__`. */
function isNameLabel(b: Uint8Array, s: number): boolean {
  for (let k = 0; k < 8; k++) if (b[s + k] !== NAME_LABEL[k]) return false;
  return true;
}

function checkUtf8(b: Uint8Array, s: number, e: number, series: number): void {
  for (let i = s; i < e; i++) {
    if (b[i]! >= 0x80) {
      if (!isUtf8(b.subarray(s, e))) throw new RemoteWriteError(`timeseries[${series}]: label is not valid UTF-8`);
      return;
    }
  }
}

/** -1, 0, 1 as b[s1, e1) sorts before, equal to, after b[s2, e2) (bytewise, as Prometheus sorts labels). */
function compareBytes(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): number {
  const n1 = e1 - s1;
  const n2 = e2 - s2;
  const n = n1 < n2 ? n1 : n2;
  for (let i = 0; i < n; i++) {
    const d = b[s1 + i]! - b[s2 + i]!;
    if (d !== 0) return d;
  }
  return n1 - n2;
}

/**
 * Checks the label ranges of a 1.0 series (the same rules as labelsToTags) and fills
 * seriesRanges; returns the tag count. One pass: senders sort labels by name, and names
 * that strictly increase are unique, so each name is compared with its predecessor only;
 * the pairwise (or, past 16 labels, hashed) duplicate search runs once a name is out of
 * order. A Label message whose bytes are all below 0x80 (short ASCII name and value, the
 * usual case) needs no further UTF-8 check.
 */
function labelRangesToSeries(b: Uint8Array, n: number, series: number): number {
  const lr = labelRanges;
  if (2 + 4 * n > seriesRanges.length) seriesRanges = new Int32Array(4 * n + 8);
  const sr = seriesRanges;
  let named = false;
  let sorted = true;
  let tags = 0;
  for (let i = 0; i < n; i++) {
    const at = L * i;
    const ns = lr[at]!, ne = lr[at + 1]!, vs = lr[at + 2]!, ve = lr[at + 3]!;
    if (ne === ns) throw new RemoteWriteError(`timeseries[${series}]: empty label name`);
    let high = 0;
    for (let k = lr[at + 4]!, e = lr[at + 5]!; k < e; k++) high |= b[k]!;
    if (high >= 0x80) {
      checkUtf8(b, ns, ne, series);
      checkUtf8(b, vs, ve, series);
    }
    if (i > 0 && sorted && compareBytes(b, lr[at - L]!, lr[at - L + 1]!, ns, ne) >= 0) sorted = false;
    if (!sorted && n <= 16) {
      for (let j = 0; j < i; j++) {
        if (sameBytes(b, ns, ne, lr[L * j]!, lr[L * j + 1]!)) {
          throw new RemoteWriteError(`timeseries[${series}]: duplicate label name "${utf8Slice(Buffer.from(b.buffer, b.byteOffset, b.byteLength), ns, ne)}"`);
        }
      }
    }
    if (ne - ns === 8 && isNameLabel(b, ns)) {
      if (ve === vs) continue; // an empty name is no name (error below)
      sr[0] = vs;
      sr[1] = ve;
      named = true;
    } else if (ve > vs) {
      const o = 2 + 4 * tags++;
      sr[o] = ns;
      sr[o + 1] = ne;
      sr[o + 2] = vs;
      sr[o + 3] = ve;
    }
  }
  if (!named) throw new RemoteWriteError(`timeseries[${series}]: no metric name (label __name__)`);
  if (n > 16 && !sorted) {
    // Many labels out of order: one pass with a Set (pairwise comparison would be quadratic).
    const nb = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < n; i++) names[i] = utf8Slice(nb, lr[L * i]!, lr[L * i + 1]!);
    const dup = firstDuplicate(names, n);
    if (dup !== undefined) throw new RemoteWriteError(`timeseries[${series}]: duplicate label name "${dup}"`);
  }
  return tags;
}

/**
 * Emits the samples and histograms of one series, read from the recorded byte ranges.
 * `name` and the `tags` scratch list describe the series (2.0); `name` undefined: the
 * series is seriesRanges with `tagCount` tags (1.0, byte ranges of the body).
 */
function emitRanges(r: ProtoReader, enc: RecordEncoder, name: string | undefined, tagCount: number, meta: SeriesMeta | undefined, nRanges: number, stats: RemoteWriteStats): void {
  // A prepared series is valid until the next one is prepared: re-prepare when the kind
  // changes (the spec allows samples or histograms in a series, not both, so this is rare).
  let prepared: PreparedSeries | undefined;
  let preparedHist: PreparedSeries | undefined;
  for (let i = 0; i < nRanges; i++) {
    r.pos = rangeStarts[i]!;
    const end = rangeEnds[i]!;
    const saved = r.end;
    r.end = end; // a sub-message's fields must not read past it
    if (rangeKinds[i] === R_SAMPLE) {
      let value = 0;
      let ts = 0;
      const b = r.buf;
      const p = r.pos;
      // What every sender writes, read inline: the value (tag 0x09, 8 bytes) then the
      // timestamp (tag 0x10) as a varint of at most 7 bytes (a positive ms count below
      // 2^49, the year 19800), ending the message. Anything else takes the general loop.
      if (b[p] === ((1 << 3) | I64) && p + 10 < end && b[p + 9] === ((2 << 3) | VARINT)) {
        let k = p + 10;
        let t = 0;
        let mul = 1;
        let byte = 0x80;
        for (let n = 0; n < 7 && k < end; n++) {
          byte = b[k++]!;
          t += (byte & 0x7f) * mul;
          if (byte < 0x80) break;
          mul *= 128;
        }
        if (byte < 0x80 && k === end) {
          value = r.view.getFloat64(p + 1, true);
          ts = t;
          r.pos = end;
        }
      }
      while (r.pos < end) {
        const t = r.uint32();
        if (t === ((1 << 3) | I64)) value = r.double();
        else if (t === ((2 << 3) | VARINT)) ts = r.int64();
        else r.skip(t & 7);
      }
      if (prepared === undefined) {
        prepared = prepare(r, enc, name, tagCount, meta);
        preparedHist = undefined;
      }
      enc.sample(prepared, value, ts);
      stats.samples++;
    } else {
      const h = readHistogram(r, end);
      if (preparedHist === undefined) prepared = undefined;
      preparedHist ??= prepare(r, enc, name, tagCount, {
        ...meta,
        type: h.reset_hint === 'gauge' ? 'gaugehistogram' : (meta?.type ?? 'histogram'),
      });
      enc.sample(preparedHist, h.count, histogramTimestamp, h);
      stats.histograms++;
    }
    r.end = saved;
  }
}

/** The series of emitRanges prepared in the encoder (no closure per series: this runs per series). */
function prepare(r: ProtoReader, enc: RecordEncoder, name: string | undefined, tagCount: number, m: SeriesMeta | undefined): PreparedSeries {
  return name === undefined ? enc.seriesFromBytes(r.buf, seriesRanges, tagCount, m) : enc.series(name, tags, m);
}

function lookupMeta(metadata: Map<string, SeriesMeta>, name: string): SeriesMeta | undefined {
  const exact = metadata.get(name);
  if (exact !== undefined) return exact;
  // Classic histogram and summary series carry their family's metadata.
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (name.endsWith(suffix)) {
      const m = metadata.get(name.slice(0, -suffix.length));
      if (m !== undefined) return m;
    }
  }
  return undefined;
}

function readMetadataV1(r: ProtoReader, end: number): { family: string; meta: SeriesMeta } {
  let family = '';
  const meta: SeriesMeta = {};
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === 1 && (t & 7) === VARINT) meta.type = TYPE_NAMES[r.uint32()] ?? 'unknown';
    else if (field === 2 && (t & 7) === LEN) family = r.string();
    else if (field === 4 && (t & 7) === LEN) meta.help = r.string();
    else if (field === 5 && (t & 7) === LEN) meta.unit = r.string();
    else r.skip(t & 7);
  }
  return { family, meta };
}

/** Set by readHistogram: the histogram's own timestamp (field 15). */
let histogramTimestamp = 0;

/** Reads a native Histogram message (same numbering in 1.0 and 2.0) into the record's form. */
function readHistogram(r: ProtoReader, end: number): NativeHistogram {
  const h: NativeHistogram = {
    schema: 0,
    count: 0,
    sum: 0,
    zero_threshold: 0,
    zero_count: 0,
    positive_spans: [],
    positive_counts: [],
    negative_spans: [],
    negative_counts: [],
  };
  const posDeltas: number[] = [];
  const negDeltas: number[] = [];
  histogramTimestamp = 0;
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    const wt = t & 7;
    switch (field) {
      case 1: h.count = r.uint64(); break;
      case 2: h.count = r.double(); break;
      case 3: h.sum = r.double(); break;
      case 4: h.schema = r.sint64(); break;
      case 5: h.zero_threshold = r.double(); break;
      case 6: h.zero_count = r.uint64(); break;
      case 7: h.zero_count = r.double(); break;
      case 8: h.negative_spans.push(readSpan(r)); break;
      case 9: readRepeated(r, wt, negDeltas, 'sint64'); break;
      case 10: readRepeated(r, wt, h.negative_counts, 'double'); break;
      case 11: h.positive_spans.push(readSpan(r)); break;
      case 12: readRepeated(r, wt, posDeltas, 'sint64'); break;
      case 13: readRepeated(r, wt, h.positive_counts, 'double'); break;
      case 14: h.reset_hint = RESET_HINTS[r.uint32()] ?? 'unknown'; break;
      case 15: histogramTimestamp = r.int64(); break;
      case 16: readRepeated(r, wt, (h.custom_values ??= []), 'double'); break;
      default: r.skip(wt);
    }
  }
  if (h.reset_hint === 'unknown') delete h.reset_hint;
  if (posDeltas.length > 0) h.positive_counts = cumulate(posDeltas);
  if (negDeltas.length > 0) h.negative_counts = cumulate(negDeltas);
  return h;
}

function cumulate(deltas: number[]): number[] {
  let c = 0;
  for (let i = 0; i < deltas.length; i++) deltas[i] = c += deltas[i]!;
  return deltas;
}

function readSpan(r: ProtoReader): { offset: number; length: number } {
  const end = r.lengthEnd();
  let offset = 0;
  let length = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | VARINT)) offset = r.sint64();
    else if (t === ((2 << 3) | VARINT)) length = r.uint32();
    else r.skip(t & 7);
  }
  return { offset, length };
}

/** A repeated scalar, packed (LEN) or not. */
function readRepeated(r: ProtoReader, wt: number, out: number[], kind: 'sint64' | 'double' | 'uint32'): void {
  const one = () => (kind === 'double' ? r.double() : kind === 'sint64' ? r.sint64() : r.uint32());
  if (wt !== LEN) {
    if ((kind === 'double') !== (wt === I64)) throw new WireError(`wire type ${wt} for a repeated ${kind}`);
    out.push(one());
    return;
  }
  const end = r.lengthEnd();
  const saved = r.end;
  r.end = end;
  try {
    while (r.pos < end) out.push(one());
  } finally {
    r.end = saved;
  }
}

// ---------------------------------------------------------------------------------------
// 2.0

const V2_TYPE_NAMES = TYPE_NAMES; // same numbering (METRIC_TYPE_UNSPECIFIED = 0 -> "unknown")

function decodeV2(body: Uint8Array, enc: RecordEncoder): RemoteWriteStats {
  const stats = newStats();
  const r = new ProtoReader(body);
  // Pass 1: the symbol table (field 4) may come after the series in the bytes.
  const symbols: string[] = [];
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === ((4 << 3) | LEN)) symbols.push(r.string());
    else r.skip(tag & 7);
  }
  const refs: number[] = [];
  r.pos = 0;
  let series = 0;
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag !== ((5 << 3) | LEN)) {
      r.skip(tag & 7);
      continue;
    }
    const end = r.lengthEnd();
    refs.length = 0;
    let nRanges = 0;
    let meta: SeriesMeta | undefined;
    while (r.pos < end) {
      const t = r.uint32();
      const field = t >>> 3;
      const wt = t & 7;
      if (field === 1) readRepeated(r, wt, refs, 'uint32');
      else if ((field === 2 || field === 3) && wt === LEN) {
        const send = r.lengthEnd();
        nRanges = pushRange(nRanges, field === 2 ? R_SAMPLE : R_HISTOGRAM, r.pos, send);
        r.pos = send;
      } else if (field === 4 && wt === LEN) {
        stats.exemplars++;
        r.skip(LEN);
      } else if (field === 5 && wt === LEN) {
        meta = readMetadataV2(r, symbols, series);
      } else r.skip(wt);
    }
    if (refs.length % 2 !== 0) throw new RemoteWriteError(`timeseries[${series}]: labels_refs has an odd length`);
    const n = refs.length >> 1;
    for (let i = 0; i < n; i++) {
      names[i] = symbol(symbols, refs[2 * i]!, series);
      values[i] = symbol(symbols, refs[2 * i + 1]!, series);
    }
    const name = labelsToTags(n, series);
    emitRanges(r, enc, name, 0, meta, nRanges, stats);
    r.pos = end;
    series++;
  }
  return stats;
}

function symbol(symbols: string[], ref: number, series: number): string {
  const s = symbols[ref];
  if (s === undefined) throw new RemoteWriteError(`timeseries[${series}]: symbol reference ${ref} out of range (${symbols.length} symbols)`);
  return s;
}

function readMetadataV2(r: ProtoReader, symbols: string[], series: number): SeriesMeta | undefined {
  const end = r.lengthEnd();
  const meta: SeriesMeta = {};
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === 1 && (t & 7) === VARINT) {
      const type = r.uint32();
      if (type !== 0) meta.type = V2_TYPE_NAMES[type] ?? 'unknown';
    } else if (field === 3 && (t & 7) === VARINT) meta.help = symbol(symbols, r.uint32(), series);
    else if (field === 4 && (t & 7) === VARINT) meta.unit = symbol(symbols, r.uint32(), series);
    else r.skip(t & 7);
  }
  r.pos = end;
  return meta.type === undefined && !meta.help && !meta.unit ? undefined : meta;
}
