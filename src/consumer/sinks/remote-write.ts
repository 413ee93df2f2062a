/**
 * Prometheus remote_write 1.0: a `prometheus.WriteRequest` protobuf, snappy block
 * compressed, POSTed with the three headers the spec requires. The encoder is hand
 * written (the message is four small types): sizes are computed first, then everything
 * is written into one exactly sized buffer.
 *
 *   WriteRequest   { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
 *   TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2; }
 *   Label          { string name = 1; string value = 2; }
 *   Sample         { double value = 1; int64 timestamp = 2; }
 *   MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
 *
 * Samples of one series in a request share one TimeSeries (in the order given, which is
 * offset order). NaN is written as Prometheus' stale marker (0x7ff0000000000002): the
 * record format keeps stale markers as NaN and cannot tell them from a plain NaN.
 */
import snappy from 'snappy';
import type { Sample } from './samples.ts';
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

function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Bytes of a length-delimited field (tag + length + payload) with a 1-byte tag. */
function fieldSize(payload: number): number {
  return 1 + varintSize(payload) + payload;
}

class Writer {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }
  varint(n: number): void {
    if (n < 0) {
      // int64 two's complement, 10 bytes (timestamps before 1970 only)
      let v = BigInt.asUintN(64, BigInt(n));
      for (let i = 0; i < 9; i++) {
        this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.buf[this.pos++] = Number(v);
      return;
    }
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  string(tag: number, s: string, bytes: number): void {
    this.byte(tag);
    this.varint(bytes);
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
  }
  double(v: number): void {
    if (Number.isNaN(v)) {
      this.buf.writeUInt32LE(0x00000002, this.pos); // Prometheus StaleNaN
      this.buf.writeUInt32LE(0x7ff00000, this.pos + 4);
    } else {
      this.buf.writeDoubleLE(v, this.pos);
    }
    this.pos += 8;
  }
}

interface Series {
  labels: { name: string; value: string; nameBytes: number; valueBytes: number; size: number }[];
  samples: Sample[];
  size: number;
}

/** Bytes of one Sample message: value (tag + fixed64), timestamp (tag + varint) unless 0. */
function sampleSize(t: number): number {
  return 9 + (t === 0 ? 0 : 1 + varintSize(t));
}

interface Metadata {
  type: number;
  family: string;
  help?: string;
  unit?: string;
  size: number;
}

function labelOf(name: string, value: string) {
  const nameBytes = Buffer.byteLength(name);
  const valueBytes = Buffer.byteLength(value);
  return { name, value, nameBytes, valueBytes, size: fieldSize(nameBytes) + fieldSize(valueBytes) };
}

function isSorted(samples: readonly Sample[]): boolean {
  for (let i = 1; i < samples.length; i++) if (samples[i].timestamp < samples[i - 1].timestamp) return false;
  return true;
}

/** The protobuf bytes (uncompressed) of a WriteRequest holding `samples`. */
export function encodeWriteRequest(samples: readonly Sample[]): Buffer {
  const series = new Map<string, Series>();
  const metadata = new Map<string, Metadata>();
  for (const s of samples) {
    let ts = series.get(s.series);
    if (ts === undefined) {
      const labels = [labelOf('__name__', s.name), ...s.tags.map(([k, v]) => labelOf(k, v))];
      labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      ts = { labels, samples: [], size: 0 };
      for (const l of labels) ts.size += fieldSize(l.size);
      series.set(s.series, ts);
    }
    ts.samples.push(s);
    ts.size += fieldSize(sampleSize(Math.round(s.timestamp)));
    if (s.type !== undefined || s.help !== undefined || s.unit !== undefined) {
      const family = familyName(s.name, s.type);
      if (!metadata.has(family)) {
        const type = METRIC_TYPES[s.type ?? 'unknown'] ?? 0;
        let size = (type === 0 ? 0 : 1 + varintSize(type)) + fieldSize(Buffer.byteLength(family));
        if (s.help !== undefined) size += fieldSize(Buffer.byteLength(s.help));
        if (s.unit !== undefined) size += fieldSize(Buffer.byteLength(s.unit));
        metadata.set(family, { type, family, help: s.help, unit: s.unit, size });
      }
    }
  }
  let total = 0;
  for (const ts of series.values()) {
    // Prometheus refuses a sample older than its series' newest: oldest first (already so
    // when Delivery sorted the batch; then this is one pass).
    if (!isSorted(ts.samples)) ts.samples.sort((a, b) => a.timestamp - b.timestamp);
    total += fieldSize(ts.size);
  }
  for (const m of metadata.values()) total += fieldSize(m.size);
  const w = new Writer(total);
  for (const ts of series.values()) {
    w.byte(0x0a); // timeseries = 1
    w.varint(ts.size);
    for (const l of ts.labels) {
      w.byte(0x0a); // labels = 1
      w.varint(l.size);
      w.string(0x0a, l.name, l.nameBytes);
      w.string(0x12, l.value, l.valueBytes);
    }
    for (const s of ts.samples) {
      const t = Math.round(s.timestamp);
      w.byte(0x12); // samples = 2
      w.varint(sampleSize(t));
      w.byte(0x09); // value = 1, fixed64
      w.double(s.value);
      if (t !== 0) {
        w.byte(0x10); // timestamp = 2, varint
        w.varint(t);
      }
    }
  }
  for (const m of metadata.values()) {
    w.byte(0x1a); // metadata = 3
    w.varint(m.size);
    if (m.type !== 0) {
      w.byte(0x08);
      w.varint(m.type);
    }
    w.string(0x12, m.family, Buffer.byteLength(m.family));
    if (m.help !== undefined) w.string(0x22, m.help, Buffer.byteLength(m.help));
    if (m.unit !== undefined) w.string(0x2a, m.unit, Buffer.byteLength(m.unit));
  }
  if (w.pos !== total) throw new Error(`remote_write encoder: wrote ${w.pos} bytes, computed ${total}`);
  return w.buf;
}

/** remote_write 1.0 (protobuf + snappy). Native histograms are skipped by extractSamples. */
export const remoteWriteFormat: WireFormat = {
  name: 'remote-write',
  representable: () => true,
  encode(samples) {
    const body = snappy.compressSync(encodeWriteRequest(samples));
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
