/**
 * Prometheus remote_write 1.0: a `prometheus.WriteRequest` protobuf, snappy block
 * compressed, POSTed with the three headers the spec requires. The encoder is hand
 * written (the message is four small types):
 *
 *   WriteRequest   { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
 *   TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2; }
 *   Label          { string name = 1; string value = 2; }
 *   Sample         { double value = 1; int64 timestamp = 2; }
 *   MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
 *
 * Per sample it only writes 11-20 bytes: a series' labels are encoded once and kept with
 * the series (SeriesInfo.cache), a family's MetricMetadata once with the metadata; the
 * request's samples are grouped by series with a counting pass (no maps, no arrays per
 * series), sizes are summed first, and everything is written into one reused buffer that
 * snappy compresses once.
 *
 * Samples of one series in a request share one TimeSeries (in the order given: oldest
 * first). NaN is written as Prometheus' stale marker (0x7ff0000000000002): the record
 * format keeps stale markers as NaN and cannot tell them from a plain NaN.
 *
 * Native histograms (an entry's `histogram` object) are not sent: see extractSamples and
 * the README (VictoriaMetrics 1.79 ignores remote_write's `histograms` field).
 */
import snappy from 'snappy';
import { ByteWriter, varintSize } from './byte-writer.ts';
import type { Metadata, SampleBatch, SeriesInfo } from './samples.ts';
import type { WireFormat } from './wire-format.ts';

/** prometheus.MetricMetadata.MetricType */
const METRIC_TYPES: Record<string, number> = {
  unknown: 0,
  counter: 1,
  gauge: 2,
  histogram: 3,
  gaugehistogram: 4,
  summary: 5,
  info: 6,
  stateset: 7,
};

const SUFFIXES: Record<string, readonly string[]> = {
  histogram: ['_bucket', '_sum', '_count', '_created'],
  gaugehistogram: ['_bucket', '_gsum', '_gcount'],
  summary: ['_sum', '_count', '_created'],
};

/** The metric family a flattened sample belongs to (`x_bucket` of a histogram → `x`). */
export function familyName(name: string, type: string | undefined): string {
  for (const s of SUFFIXES[type ?? ''] ?? []) if (name.endsWith(s) && name.length > s.length) return name.slice(0, -s.length);
  return name;
}

/** Bytes of a length-delimited field (tag + length + payload) with a 1-byte tag. */
function fieldSize(payload: number): number {
  return 1 + varintSize(payload) + payload;
}

/** Bytes of one Sample message: value (tag + fixed64), timestamp (tag + varint) unless 0. */
function sampleSize(t: number): number {
  return 9 + (t === 0 ? 0 : 1 + varintSize(t));
}

/** A length-delimited field of UTF-8 `s` into a fresh buffer (per series/family, not per sample). */
function stringField(tag: number, s: string): Buffer {
  const n = Buffer.byteLength(s);
  const w = new ByteWriter(fieldSize(n));
  w.byte(tag);
  w.varint(n);
  w.pos += w.buf.write(s, w.pos, n, 'utf8');
  return w.buf;
}

/** Wraps `payload` as field `tag` (length-delimited). */
function wrap(tag: number, payload: Buffer): Buffer {
  const w = new ByteWriter(fieldSize(payload.length));
  w.byte(tag);
  w.varint(payload.length);
  w.bytes(payload);
  return w.buf;
}

/** The series' Label fields (__name__ and tags, sorted by name), encoded once. */
function labelBytes(s: SeriesInfo): Buffer {
  let b = s.cache.remoteWrite;
  if (b === undefined) {
    const labels: [string, string][] = [['__name__', s.name], ...s.tags];
    labels.sort((a, c) => (a[0] < c[0] ? -1 : a[0] > c[0] ? 1 : 0));
    b = Buffer.concat(labels.map(([k, v]) => wrap(0x0a, Buffer.concat([stringField(0x0a, k), stringField(0x12, v)]))));
    s.cache.remoteWrite = b;
  }
  return b;
}

/** The MetricMetadata field of a sample's metadata and its family, encoded once. */
function metadataBytes(m: Metadata): { family: string; bytes: Buffer } {
  let c = m.cache.remoteWrite;
  if (c === undefined) {
    const family = familyName(m.name, m.type);
    const type = METRIC_TYPES[m.type ?? 'unknown'] ?? 0;
    const parts: Buffer[] = [];
    if (type !== 0) parts.push(Buffer.from([0x08, type]));
    parts.push(stringField(0x12, family));
    if (m.help !== undefined) parts.push(stringField(0x22, m.help));
    if (m.unit !== undefined) parts.push(stringField(0x2a, m.unit));
    c = { family, bytes: wrap(0x1a, Buffer.concat(parts)) };
    m.cache.remoteWrite = c;
  }
  return c;
}

/** How much a metadata says: its type, help and unit, for picking one per family. */
function detail(m: Metadata): number {
  return (m.type !== undefined ? 1 : 0) + (m.help !== undefined ? 2 : 0) + (m.unit !== undefined ? 2 : 0);
}

const STALE_NAN = Buffer.from([0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]);

/** Marks this request's series and metadata in their scratch fields. */
let serial = 0;
const out = new ByteWriter();
const order: SeriesInfo[] = [];
const metas: Metadata[] = [];
let perm = new Uint32Array(1024);

/** Writes the protobuf bytes (uncompressed) of samples `indexes` of `batch` into `out`. */
function writeRequest(batch: SampleBatch, indexes: ArrayLike<number>): Buffer {
  serial++;
  order.length = 0;
  metas.length = 0;
  const { series, meta, timestamps, values } = batch;
  const n = indexes.length;
  for (let k = 0; k < n; k++) {
    const i = indexes[k];
    const s = series[i];
    if (s.mark !== serial) {
      s.mark = serial;
      s.count = 0;
      s.bytes = 0;
      order.push(s);
    }
    s.count++;
    const t = Math.round(timestamps[i]);
    s.bytes += 2 + sampleSize(t); // tag + length (< 128) + Sample
    const m = meta[i];
    if (m !== undefined && m.mark !== serial) {
      m.mark = serial;
      metas.push(m);
    }
  }
  let total = 0;
  let start = 0;
  for (const s of order) {
    s.fill = start;
    start += s.count;
    total += fieldSize(labelBytes(s).length + s.bytes);
  }
  // Metadata: one per family in the request (x_bucket's and x_count's are one), the one
  // that says the most (help and unit are often sent with only one sample of a family).
  const families = new Map<string, Metadata>();
  for (const m of metas) {
    const family = metadataBytes(m).family;
    const seen = families.get(family);
    if (seen === undefined || detail(m) > detail(seen)) families.set(family, m);
  }
  for (const m of families.values()) total += metadataBytes(m).bytes.length;
  if (perm.length < n) perm = new Uint32Array(Math.max(n, perm.length * 2));
  for (let k = 0; k < n; k++) {
    const i = indexes[k];
    perm[series[i].fill++] = i;
  }
  out.reset();
  out.ensure(total);
  const buf = out.buf;
  let p = 0;
  for (const s of order) {
    const labels = labelBytes(s);
    out.byte(0x0a); // timeseries = 1
    out.varint(labels.length + s.bytes);
    out.bytes(labels);
    for (let k = s.fill - s.count; k < s.fill; k++) {
      const i = perm[k];
      const t = Math.round(timestamps[i]);
      p = out.pos;
      buf[p++] = 0x12; // samples = 2
      buf[p++] = sampleSize(t);
      buf[p++] = 0x09; // value = 1, fixed64
      const v = values[i];
      if (v !== v) STALE_NAN.copy(buf, p);
      else buf.writeDoubleLE(v, p);
      out.pos = p + 8;
      if (t > 0) {
        out.byte(0x10); // timestamp = 2, varint
        out.varint(t);
      } else if (t < 0) {
        out.byte(0x10);
        negativeVarint(out, t);
      }
    }
  }
  for (const m of families.values()) out.bytes(metadataBytes(m).bytes);
  if (out.pos !== total) throw new Error(`remote_write encoder: wrote ${out.pos} bytes, computed ${total}`);
  return out.view();
}

/** An int64 below 0 in two's complement, 10 bytes (timestamps before 1970 only). */
function negativeVarint(w: ByteWriter, n: number): void {
  let v = BigInt.asUintN(64, BigInt(n));
  for (let i = 0; i < 9; i++) {
    w.byte(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  w.byte(Number(v));
}

/** The protobuf bytes (uncompressed) of a WriteRequest holding every sample of `batch`, oldest first per series. */
export function encodeWriteRequest(batch: SampleBatch): Buffer {
  return Buffer.from(writeRequest(batch, batch.byTime()));
}

/** remote_write 1.0 (protobuf + snappy). Native histograms are skipped by extractSamples. */
export const remoteWriteFormat: WireFormat = {
  name: 'remote-write',
  representable: () => true,
  encode(batch, indexes) {
    const body = snappy.compressSync(writeRequest(batch, indexes));
    return {
      body,
      headers: {
        'content-encoding': 'snappy',
        'content-type': 'application/x-protobuf',
        'x-prometheus-remote-write-version': '0.1.0',
        'user-agent': 'metricstream-consumer',
      },
    };
  },
  prepareUrl: (url) => url,
};
