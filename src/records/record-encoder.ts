/**
 * Writes the record format (README "Record format") straight from a protocol decoder,
 * without building an object per sample:
 *
 *   {"metrics":[{"name","value","timestamp","tags",["type"],["unit"],["help"],
 *                ["temporality"],["histogram"]}, ...]}
 *
 * A decoder prepares a series once (name, tags, metadata: encoded to bytes once) and then
 * adds its samples; each sample copies the prepared bytes and appends value and
 * timestamp. Two encodings, chosen by --value-format: plain MessagePack (maps, str, float64,
 * int64: what any msgpack decoder reads) and JSON (NaN/±Inf as the strings "NaN", "+Inf",
 * "-Inf", since JSON has no literal for them).
 */
// Not 'msgpackr': see metrics-body.ts (memory per worker thread).
import { Packr } from 'msgpackr/pack';
import { ContentType } from '../sink/sink.ts';
import { writeStrHeader } from './msgpackr-writer.ts';
import { growBuffer } from './grow-buffer.ts';

export type ValueFormat = 'msgpack' | 'json';

/**
 * Largest record value an encoder writes: what the log can frame (MAX_FRAME_BYTES). A
 * body that would expand past it (OTLP resource attributes repeated on every point, say)
 * stops there with RecordTooLarge instead of growing memory and work without bound.
 */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** Most entries the counting encoder (--value-format raw) accepts, for the same reason. */
export const MAX_RECORD_ENTRIES = MAX_RECORD_BYTES / 16;

/** The record would exceed MAX_RECORD_BYTES / MAX_RECORD_ENTRIES: answered 413. */
export class RecordTooLarge extends Error {
  constructor(what: string) {
    super(`the request expands to ${what}, more than one record can hold (${MAX_RECORD_BYTES} bytes): send smaller requests`);
  }
}

/** Optional per-series fields of an entry. */
export interface SeriesMeta {
  type?: string;
  unit?: string;
  help?: string;
  /** 'delta' for OTLP delta sums/histograms; absent means cumulative (or a gauge). */
  temporality?: string;
}

/**
 * A series prepared for repeated samples: opaque to decoders. It is valid until the next
 * series()/seriesFromBytes() call on the same encoder (the msgpack encoder keeps its bytes
 * in a scratch buffer that the next series reuses: no copy, no allocation per series).
 */
export interface PreparedSeries {
  /** Static fields of the entry (name, tags, metadata), already encoded: bytes[0, length). */
  readonly bytes: Uint8Array | string;
  readonly length: number;
  /** Number of static fields (msgpack map size contribution). */
  readonly fields: number;
}

export interface RecordEncoder {
  readonly contentType: ContentType;
  /** Entries written so far. */
  readonly count: number;
  /**
   * Prepares a series. `tags` is a flat [name, value, name, value, ...] list (no
   * duplicates: the caller validated or merged them).
   */
  series(name: string, tags: readonly string[], meta?: SeriesMeta): PreparedSeries;
  /**
   * The same from UTF-8 byte ranges of `src` (validated by the caller), so that a
   * decoder need not make strings of what it only copies: `ranges` holds start/end pairs,
   * the name's first, then `tagCount` key/value pairs.
   */
  seriesFromBytes(src: Uint8Array, ranges: Int32Array, tagCount: number, meta?: SeriesMeta): PreparedSeries;
  /** One entry: the series' fields plus value, timestamp (ms) and an optional histogram object. */
  sample(series: PreparedSeries, value: number, timestampMs: number, histogram?: object): void;
  /** The encoded record value; the encoder must not be used afterwards. */
  finish(): Uint8Array;
}

/**
 * A new encoder for one record in the given value format.
 *
 * `reuseOutput` (msgpack only): the encoder writes into a buffer this thread keeps from the
 * previous such encoder, and finish() returns a view of it that is valid only until the
 * next encoder with `reuseOutput` in this thread. For the gateway's workers, which copy a
 * decoded record into the ring before decoding another: a fresh buffer per request (1.5-2x
 * the body) is external memory that makes V8 run a full GC every few requests at large
 * bodies (the issue-15 profile: a quarter of the gateway's CPU in GC threads at 2000
 * samples per request).
 */
export function createRecordEncoder(format: ValueFormat, sizeHint = 4096, reuseOutput = false): RecordEncoder {
  if (format === 'json') return new JsonRecordEncoder();
  if (!reuseOutput) return new MsgpackRecordEncoder(sizeHint, undefined);
  let buf = sharedOutput;
  sharedOutput = undefined; // taken: an encoder that throws keeps it (the next one allocates)
  if (buf === undefined || buf.length < sizeHint) buf = Buffer.allocUnsafe(Math.max(64, sizeHint));
  return new MsgpackRecordEncoder(0, buf);
}

/** The buffer `reuseOutput` encoders share (per thread: module state is per worker). */
let sharedOutput: Buffer | undefined;
/** Larger buffers are not kept: an idle worker should not hold a big request's memory. */
const SHARED_OUTPUT_MAX = 1 << 20;

/**
 * An encoder that only counts entries: --value-format raw still decodes every body (to
 * validate it and count its samples) but stores the bytes as received.
 */
export function createCountingEncoder(): RecordEncoder {
  const none: PreparedSeries = { bytes: '', length: 0, fields: 0 };
  let count = 0;
  return {
    contentType: ContentType.msgpack,
    get count() {
      return count;
    },
    series: () => none,
    seriesFromBytes: () => none,
    sample: () => {
      if (++count > MAX_RECORD_ENTRIES) throw new RecordTooLarge(`over ${MAX_RECORD_ENTRIES} entries`);
    },
    finish: () => new Uint8Array(0),
  };
}

// ---------------------------------------------------------------------------------------
// MessagePack

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** A growable byte buffer with the msgpack primitives the record needs. */
class MsgpackBuf {
  buf: Buffer;
  pos = 0;
  constructor(size: number, buf?: Buffer) {
    this.buf = buf ?? Buffer.allocUnsafe(Math.max(64, size));
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos + n > MAX_RECORD_BYTES) throw new RecordTooLarge(`over ${MAX_RECORD_BYTES} bytes`);
    this.buf = growBuffer(this.buf, this.pos, this.pos + n);
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  bytes(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n);
    if (n < 48) {
      // A loop beats TypedArray.set's call overhead for the small pieces of a record.
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) buf[p++] = b[i]!;
      this.pos = p;
      return;
    }
    this.buf.set(b, this.pos);
    this.pos += n;
  }
  /** The first `n` bytes of `b`. */
  bytesRange(b: Uint8Array, n: number): void {
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    if (n < 64) for (let i = 0; i < n; i++) buf[p++] = b[i]!;
    else {
      buf.set(b.subarray(0, n), p);
      p += n;
    }
    this.pos = p;
  }
  str(s: string): void {
    const n = s.length;
    if (n < 32) {
      // Short ASCII strings (most names and labels) are copied char by char, no encoder call.
      this.ensure(n + 1);
      const buf = this.buf;
      const start = this.pos;
      let p = start + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i === n) {
        buf[start] = 0xa0 | n;
        this.pos = p;
        return;
      }
    }
    this.strUtf8(s);
  }
  private strUtf8(s: string): void {
    // Worst case 3 bytes per UTF-16 unit, plus a 5-byte header.
    const max = s.length * 3;
    this.ensure(max + 5);
    const headerAt = this.pos;
    const room = max < 32 ? 1 : max < 256 ? 2 : max < 65536 ? 3 : 5;
    const written = this.buf.write(s, headerAt + room, max, 'utf8');
    // The smallest header for what was written, as strBytes() writes it: one string has
    // one encoding whichever way a decoder prepared it (the in-place decoders' tests
    // compare records byte for byte with the string way's).
    const header = written < 32 ? 1 : written < 256 ? 2 : written < 65536 ? 3 : 5;
    if (header < room) this.buf.copyWithin(headerAt + header, headerAt + room, headerAt + room + written);
    this.pos = writeStrHeader(this.buf, headerAt, written) + written;
  }
  /** A msgpack str from UTF-8 bytes src[start, end). */
  strBytes(src: Uint8Array, start: number, end: number): void {
    this.ensure(end - start + 5);
    this.pos = putStr(this.buf, this.pos, src, start, end);
  }
  mapHeader(n: number): void {
    if (n < 16) this.byte(0x80 | n);
    else {
      this.ensure(3);
      this.buf[this.pos] = 0xde;
      this.buf.writeUInt16BE(n, this.pos + 1);
      this.pos += 3;
    }
  }
  f64(v: number): void {
    this.ensure(9);
    this.pos = putF64(this.buf, this.pos, v);
  }
  /**
   * A number the way msgpackr writes one (so every reader of the seed's records reads
   * ours alike): integers in the 32-bit ranges as msgpack ints, anything else (ms
   * timestamps included, which a float64 holds exactly) as float64.
   */
  number(v: number): void {
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff && !Object.is(v, -0)) {
      this.ensure(5);
      if (v >= 0 && v < 128) this.buf[this.pos++] = v;
      else if (v >= 0) {
        this.buf[this.pos] = 0xce;
        this.buf.writeUInt32BE(v, this.pos + 1);
        this.pos += 5;
      } else {
        this.buf[this.pos] = 0xd2;
        this.buf.writeInt32BE(v, this.pos + 1);
        this.pos += 5;
      }
      return;
    }
    this.f64(v);
  }
}

const K_NAME = keyBytes('name');
const K_VALUE = keyBytes('value');
const K_TIMESTAMP = keyBytes('timestamp');
const K_TAGS = keyBytes('tags');
const K_TYPE = keyBytes('type');
const K_UNIT = keyBytes('unit');
const K_HELP = keyBytes('help');
const K_TEMPORALITY = keyBytes('temporality');
const K_HISTOGRAM = keyBytes('histogram');

function keyBytes(s: string): Uint8Array {
  const b = new MsgpackBuf(16);
  b.str(s);
  return b.buf.subarray(0, b.pos);
}

/**
 * A msgpack str from the UTF-8 bytes src[start, end) at buf[p] (room checked by the
 * caller: length + 5); returns the next position.
 */
function putStr(buf: Buffer, p: number, src: Uint8Array, start: number, end: number): number {
  const n = end - start;
  p = writeStrHeader(buf, p, n);
  if (n < 48) for (let i = start; i < end; i++) buf[p++] = src[i]!;
  else {
    buf.set(src.subarray(start, end), p);
    p += n;
  }
  return p;
}

/** Scratch for float64 bytes: msgpack wants big-endian, the platform (x86, ARM) is little. */
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `v` as a msgpack float64 (0xcb + 8 bytes big-endian) at buf[p]; returns the next position. */
function putF64(buf: Buffer, p: number, v: number): number {
  buf[p] = 0xcb;
  if (!LITTLE_ENDIAN) {
    buf.writeDoubleBE(v, p + 1);
    return p + 9;
  }
  f64[0] = v;
  buf[p + 1] = f64Bytes[7]!;
  buf[p + 2] = f64Bytes[6]!;
  buf[p + 3] = f64Bytes[5]!;
  buf[p + 4] = f64Bytes[4]!;
  buf[p + 5] = f64Bytes[3]!;
  buf[p + 6] = f64Bytes[2]!;
  buf[p + 7] = f64Bytes[1]!;
  buf[p + 8] = f64Bytes[0]!;
  return p + 9;
}

const NO_BYTES = new Uint8Array(0);

/** Most bytes sample() appends after the series' own: value and timestamp keys and numbers. */
const SAMPLE_TAIL = 1 + K_VALUE.length + 9 + K_TIMESTAMP.length + 9;

/**
 * The msgpack encoder's prepared series: its static fields are written once, in place, as
 * the start of its first entry in the output (out[start, end), after a map header byte at
 * start - 1 that sample() fills in); later samples copy them from there. So a series of
 * one sample (nearly every OTLP point and remote_write series) is written exactly once,
 * with no scratch buffer in between.
 */
class InPlaceSeries implements PreparedSeries {
  /** Unused (the static bytes are in the output); shared, since a typed array per encoder cost a fifth of a 1-sample decode. */
  readonly bytes: Uint8Array = NO_BYTES;
  length = 0;
  fields = 0;
  start = 0;
  end = 0;
  /** No entry uses the static bytes yet: the next series() takes their place back. */
  unused = false;
}

class MsgpackRecordEncoder implements RecordEncoder {
  readonly contentType = ContentType.msgpack;
  count = 0;
  private readonly out: MsgpackBuf;
  /** One object, reused: a prepared series is valid until the next one is prepared. */
  private readonly current = new InPlaceSeries();
  /** The output buffer goes back to sharedOutput at finish(). */
  private readonly shared: boolean;

  constructor(sizeHint: number, buf: Buffer | undefined) {
    this.out = new MsgpackBuf(sizeHint, buf);
    this.shared = buf !== undefined;
    // {"metrics": array32 <patched in finish()>}
    this.out.byte(0x81);
    this.out.str('metrics');
    this.out.ensure(5);
    this.out.buf[this.out.pos] = 0xdd;
    this.out.pos += 5;
  }

  /** Starts a series' static bytes in the output, dropping a previous series never sampled. */
  private begin(): MsgpackBuf {
    const o = this.out;
    const c = this.current;
    if (c.unused) o.pos = c.start - 1;
    o.ensure(1);
    o.pos++; // the entry's map header, written by sample()
    c.start = o.pos;
    return o;
  }

  series(name: string, tags: readonly string[], meta?: SeriesMeta): PreparedSeries {
    const o = this.begin();
    o.bytes(K_NAME);
    o.str(name);
    o.bytes(K_TAGS);
    o.mapHeader(tags.length >> 1);
    for (let i = 0; i < tags.length; i++) o.str(tags[i]!);
    return this.withMeta(meta, 2);
  }

  seriesFromBytes(src: Uint8Array, ranges: Int32Array, tagCount: number, meta?: SeriesMeta): PreparedSeries {
    const o = this.begin();
    // One bounds check for the whole series: its strings, their headers (5 bytes at most
    // each), the two keys and the tags' map header.
    const last = 2 + tagCount * 4;
    let size = K_NAME.length + K_TAGS.length + 3;
    for (let i = 0; i < last; i += 2) size += ranges[i + 1]! - ranges[i]! + 5;
    o.ensure(size);
    const buf = o.buf;
    let p = o.pos;
    for (let i = 0; i < K_NAME.length; i++) buf[p++] = K_NAME[i]!;
    p = putStr(buf, p, src, ranges[0]!, ranges[1]!);
    for (let i = 0; i < K_TAGS.length; i++) buf[p++] = K_TAGS[i]!;
    if (tagCount < 16) buf[p++] = 0x80 | tagCount;
    else {
      buf[p++] = 0xde;
      buf[p++] = tagCount >> 8;
      buf[p++] = tagCount & 0xff;
    }
    for (let i = 2; i < last; i += 2) p = putStr(buf, p, src, ranges[i]!, ranges[i + 1]!);
    o.pos = p;
    return this.withMeta(meta, 2);
  }

  /** Appends the optional metadata fields to the series being prepared and returns it. */
  private withMeta(meta: SeriesMeta | undefined, fields: number): PreparedSeries {
    const o = this.out;
    if (meta !== undefined) {
      if (meta.type !== undefined) {
        o.bytes(K_TYPE);
        o.str(meta.type);
        fields++;
      }
      if (meta.unit) {
        o.bytes(K_UNIT);
        o.str(meta.unit);
        fields++;
      }
      if (meta.help) {
        o.bytes(K_HELP);
        o.str(meta.help);
        fields++;
      }
      if (meta.temporality !== undefined) {
        o.bytes(K_TEMPORALITY);
        o.str(meta.temporality);
        fields++;
      }
    }
    const c = this.current;
    c.end = o.pos;
    c.length = c.end - c.start;
    c.fields = fields;
    c.unused = true;
    return c;
  }

  sample(series: PreparedSeries, value: number, timestampMs: number, histogram?: object): void {
    const o = this.out;
    const c = series as InPlaceSeries;
    const header = 0x80 | (c.fields + (histogram === undefined ? 2 : 3));
    const n = c.end - c.start;
    if (c.unused) {
      c.unused = false;
      o.ensure(SAMPLE_TAIL);
      o.buf[c.start - 1] = header;
    } else {
      o.ensure(1 + n + SAMPLE_TAIL);
      const buf = o.buf;
      let p = o.pos;
      buf[p++] = header;
      if (n < 64) for (let i = c.start; i < c.end; i++) buf[p++] = buf[i]!;
      else {
        buf.copyWithin(p, c.start, c.end);
        p += n;
      }
      o.pos = p;
    }
    const buf = o.buf;
    let p = o.pos;
    for (let i = 0; i < K_VALUE.length; i++) buf[p++] = K_VALUE[i]!;
    p = putF64(buf, p, value);
    for (let i = 0; i < K_TIMESTAMP.length; i++) buf[p++] = K_TIMESTAMP[i]!;
    o.pos = p;
    o.number(timestampMs);
    if (histogram !== undefined) {
      o.bytes(K_HISTOGRAM);
      o.bytes(packr.pack(histogram));
    }
    this.count++;
  }

  finish(): Uint8Array {
    const c = this.current;
    if (c.unused) {
      this.out.pos = c.start - 1;
      c.unused = false;
    }
    this.out.buf.writeUInt32BE(this.count, 1 + 8 + 1); // after 0x81, "metrics" (8 bytes), 0xdd
    if (this.shared && this.out.buf.length <= SHARED_OUTPUT_MAX) sharedOutput = this.out.buf;
    return this.out.buf.subarray(0, this.out.pos);
  }
}

// ---------------------------------------------------------------------------------------
// JSON

const utf8 = new TextDecoder();

/** A float64 in JSON: NaN and the infinities as strings (JSON has no literal for them). */
export function jsonNumber(v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '-0' : String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"+Inf"' : '"-Inf"';
}

function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  return v;
}

class JsonRecordEncoder implements RecordEncoder {
  readonly contentType = ContentType.json;
  count = 0;
  private bytes = 0;
  private parts: string[] = [];

  seriesFromBytes(src: Uint8Array, ranges: Int32Array, tagCount: number, meta?: SeriesMeta): PreparedSeries {
    const text = (i: number) => utf8.decode(src.subarray(ranges[i]!, ranges[i + 1]!));
    const tags: string[] = [];
    for (let i = 2; i < 2 + tagCount * 4; i += 2) tags.push(text(i));
    return this.series(text(0), tags, meta);
  }

  series(name: string, tags: readonly string[], meta?: SeriesMeta): PreparedSeries {
    let s = `{"name":${JSON.stringify(name)},"tags":{`;
    for (let i = 0; i < tags.length; i += 2) {
      if (i > 0) s += ',';
      s += `${JSON.stringify(tags[i])}:${JSON.stringify(tags[i + 1])}`;
    }
    s += '}';
    if (meta !== undefined) {
      if (meta.type !== undefined) s += `,"type":${JSON.stringify(meta.type)}`;
      if (meta.unit) s += `,"unit":${JSON.stringify(meta.unit)}`;
      if (meta.help) s += `,"help":${JSON.stringify(meta.help)}`;
      if (meta.temporality !== undefined) s += `,"temporality":${JSON.stringify(meta.temporality)}`;
    }
    return { bytes: s, length: s.length, fields: 0 };
  }

  sample(series: PreparedSeries, value: number, timestampMs: number, histogram?: object): void {
    let s = `${series.bytes as string},"value":${jsonNumber(value)},"timestamp":${jsonNumber(timestampMs)}`;
    if (histogram !== undefined) s += `,"histogram":${JSON.stringify(histogram, jsonReplacer)}`;
    this.parts.push(s + '}');
    this.bytes += s.length + 2;
    if (this.bytes > MAX_RECORD_BYTES) throw new RecordTooLarge(`over ${MAX_RECORD_BYTES} characters of JSON`);
    this.count++;
  }

  finish(): Uint8Array {
    return Buffer.from(`{"metrics":[${this.parts.join(',')}]}`, 'utf8');
  }
}
