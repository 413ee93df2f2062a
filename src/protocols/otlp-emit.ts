/**
 * OTLP metrics to the record format, shared by the protobuf and the JSON decoder: they
 * read the wire, this module decides what each data point becomes.
 *
 * - tags: resource attributes, then `otel_scope_name` / `otel_scope_version` (when set),
 *   then the data point's attributes; on a name collision the later one wins (point over
 *   scope over resource). Keys are kept as sent (dots included). Non-string attribute
 *   values become strings: ints in decimal, doubles as JavaScript prints them, booleans
 *   `true`/`false`, bytes in base64, arrays and key-value lists as JSON.
 * - Gauge: one entry, `type: "gauge"`. Sum: monotonic -> `type: "counter"`, otherwise
 *   `"gauge"`; delta temporality adds `"temporality":"delta"`. The name is kept as sent
 *   (no `_total` suffix is added).
 * - Histogram: Prometheus' classic flattening: `<name>_bucket{le}` cumulative (last
 *   `le="+Inf"`), `<name>_sum` (when sent), `<name>_count`, each `type: "histogram"`.
 * - Exponential histogram: one entry `<name>`, value = count, `type: "histogram"`, with the
 *   `histogram` object in Prometheus' native-histogram convention (schema = OTLP scale;
 *   an OTLP bucket index i is the native bucket i + 1, so span offsets are shifted by one).
 * - Summary: `<name>{quantile}` entries, `<name>_sum`, `<name>_count`, `type: "summary"`.
 * - unit and description -> `unit` and `help` on every entry of the metric.
 * - timestamps: time_unix_nano as ms (integer part exact, sub-ms as a fraction).
 * - A data point flagged "no recorded value" is stored with value NaN (Prometheus' own
 *   conversion makes it a stale marker). Rejected (counted in partial_success): points of a
 *   metric without a name, a number point with no value, a point without a timestamp, a
 *   histogram whose bucket counts do not match its bounds.
 */
import type { RecordEncoder, SeriesMeta } from '../records/record-encoder.ts';
import { dedupeLastWins, tagRangeIndex } from '../records/tags.ts';
import { doubledCapacity } from '../records/grow-buffer.ts';

export const NO_RECORDED_VALUE = 1;

export interface MetricInfo {
  name: string;
  help: string;
  unit: string;
  /** The name's bytes in a protobuf body (entries of points read in place copy them from there). */
  nameStart?: number;
  nameEnd?: number;
}

/**
 * Most tags (resource, scope, point and `le`/`quantile` together) of an entry written in
 * place; more go the string way, whose duplicate check stays linear (records/tags.ts).
 */
export const MAX_IN_PLACE_TAGS = 16;

/**
 * A protobuf point's attributes read in place: `count` string key/value pairs as byte
 * ranges of `src` (key start, key end, value start, value end, ...), all ASCII. The
 * decoder fills one and reuses it; it has checked that the base tags, these and an
 * entry's `le`/`quantile` fit in MAX_IN_PLACE_TAGS, and set the metric's nameStart/nameEnd.
 * Why: each entry is then one seriesFromBytes() of bytes copied once, the way
 * remote_write labels go, instead of a tag list merged and a string encoded per tag
 * (bench/decode-ab.ts --protocols otlp,otlp-histogram).
 */
export class InPlaceAttributes {
  src: Uint8Array = new Uint8Array(0);
  readonly ranges = new Int32Array(4 * MAX_IN_PLACE_TAGS);
  count = 0;
}

/** A point's attributes: a flat [key, value, ...] string list, or read in place. */
export type PointAttributes = readonly string[] | InPlaceAttributes;

/** A name suffix or a tag key an entry adds, as text (string way) and bytes (in place). */
interface Piece {
  text: string;
  bytes: Uint8Array;
}
const piece = (text: string): Piece => ({ text, bytes: Buffer.from(text) });
const NO_SUFFIX = piece('');
const BUCKET = piece('_bucket');
const SUM = piece('_sum');
const COUNT = piece('_count');
const LE = piece('le');
const QUANTILE = piece('quantile');

export class OtlpEmitter {
  readonly enc: RecordEncoder;
  /** Tags from resource and scope, as a flat [k, v, ...] list. */
  base: string[] = [];
  private baseResourceLength = 0;
  private readonly tags: string[] = [];
  rejected = 0;
  firstError = '';
  points = 0;
  /** End of the base tags' bytes in the scratch; -1: not encoded since they last changed. */
  private baseEnd = -1;
  /** End of the current in-place point's attribute bytes in the scratch. */
  private pointEnd = 0;
  /**
   * What prepare() returned for the last in-place point (-1: none yet), its attribute count
   * and the lengths of its keys and values: a point whose attributes are byte for byte the
   * same (the common case: the metrics of one scope share their attributes) finds its tags
   * already merged in the scratch. Consulted only when the base was not encoded again
   * since (a new scope or resource, another emitter's use of the scratch), so it always
   * describes the scratch as it is.
   */
  private prepared = -1;
  private preparedCount = 0;
  /** What meta() returns, filled again for every point: an object per point was a third of what decoding an OTLP body allocated. */
  private readonly pointMeta: SeriesMeta = { type: undefined, unit: undefined, help: undefined, temporality: undefined };

  constructor(enc: RecordEncoder) {
    this.enc = enc;
  }

  /** A new resource: its attributes become the base tags. */
  resource(attrs: string[]): void {
    this.base = dedupeLastWins(attrs.slice());
    this.baseResourceLength = this.base.length;
    this.baseEnd = -1;
  }

  /** A new scope within the current resource. */
  scope(name: string, version: string): void {
    this.base.length = this.baseResourceLength;
    if (name !== '') mergeInto(this.base, 'otel_scope_name', name);
    if (version !== '') mergeInto(this.base, 'otel_scope_version', version);
    this.baseEnd = -1;
  }

  /** Tags every entry of the current scope starts from (resource and scope). */
  get baseTagCount(): number {
    return this.base.length >> 1;
  }

  reject(n: number, why: string): void {
    this.rejected += n;
    if (this.firstError === '') this.firstError = why;
  }

  /** The point's series metadata, in pointMeta (the encoder reads it at once and keeps none of it). */
  private meta(m: MetricInfo, type: string, temporality?: number): SeriesMeta {
    const meta = this.pointMeta;
    meta.type = type;
    meta.unit = m.unit;
    meta.help = m.help;
    meta.temporality = temporality === 1 ? 'delta' : undefined;
    return meta;
  }

  /** Checks the parts every point needs; false (and counted) when the point is rejected. */
  private valid(m: MetricInfo, tsMs: number): boolean {
    this.points++;
    if (m.name === '') {
      this.reject(1, 'metric without a name');
      return false;
    }
    if (tsMs === 0) {
      this.reject(1, `${m.name}: data point without time_unix_nano`);
      return false;
    }
    return true;
  }

  /** A gauge or sum point. `value` undefined: none of as_double/as_int was set. */
  number(m: MetricInfo, type: 'gauge' | 'counter', temporality: number, attrs: PointAttributes, tsMs: number, value: number | undefined, flags: number): void {
    if (!this.valid(m, tsMs)) return;
    if (flags & NO_RECORDED_VALUE) value = NaN;
    if (value === undefined) {
      this.reject(1, `${m.name}: number data point without a value`);
      return;
    }
    this.entry(m, attrs, this.prepare(attrs), NO_SUFFIX, this.meta(m, type, temporality), value, tsMs);
  }

  /** An explicit-bucket histogram point: per-bucket counts, bounds.length + 1 of them (or none). */
  histogram(m: MetricInfo, temporality: number, attrs: PointAttributes, tsMs: number, count: number, sum: number | undefined, bounds: readonly number[], counts: readonly number[], flags: number): void {
    if (!this.valid(m, tsMs)) return;
    if (counts.length !== 0 && counts.length !== bounds.length + 1) {
      this.reject(1, `${m.name}: histogram with ${counts.length} bucket counts for ${bounds.length} bounds`);
      return;
    }
    const stale = (flags & NO_RECORDED_VALUE) !== 0;
    const meta = this.meta(m, 'histogram', temporality);
    const tags = this.prepare(attrs);
    let cumulative = 0;
    for (let b = 0; b < counts.length; b++) {
      cumulative += counts[b]!;
      const le = b < bounds.length ? formatLe(bounds[b]!) : '+Inf';
      this.entry(m, attrs, tags, BUCKET, meta, stale ? NaN : cumulative, tsMs, undefined, LE, le);
    }
    if (counts.length === 0) this.entry(m, attrs, tags, BUCKET, meta, stale ? NaN : count, tsMs, undefined, LE, '+Inf');
    if (sum !== undefined) this.entry(m, attrs, tags, SUM, meta, stale ? NaN : sum, tsMs);
    this.entry(m, attrs, tags, COUNT, meta, stale ? NaN : count, tsMs);
  }

  /** An exponential histogram point, already in the record's `histogram` form. */
  exponential(m: MetricInfo, temporality: number, attrs: PointAttributes, tsMs: number, histogram: { count: number }, flags: number): void {
    if (!this.valid(m, tsMs)) return;
    const value = flags & NO_RECORDED_VALUE ? NaN : histogram.count;
    this.entry(m, attrs, this.prepare(attrs), NO_SUFFIX, this.meta(m, 'histogram', temporality), value, tsMs, histogram);
  }

  /** A summary point. `quantiles` is a flat [q, value, ...] list. */
  summary(m: MetricInfo, attrs: PointAttributes, tsMs: number, count: number, sum: number, quantiles: readonly number[], flags: number): void {
    if (!this.valid(m, tsMs)) return;
    const stale = (flags & NO_RECORDED_VALUE) !== 0;
    const meta = this.meta(m, 'summary');
    const tags = this.prepare(attrs);
    for (let q = 0; q < quantiles.length; q += 2) {
      this.entry(m, attrs, tags, NO_SUFFIX, meta, stale ? NaN : quantiles[q + 1]!, tsMs, undefined, QUANTILE, formatLe(quantiles[q]!));
    }
    this.entry(m, attrs, tags, SUM, meta, stale ? NaN : sum, tsMs);
    this.entry(m, attrs, tags, COUNT, meta, stale ? NaN : count, tsMs);
  }

  /**
   * One entry of a point: named m's name + `suffix`, tagged with the base tags and the
   * point's attributes merged (a later key replaces an earlier one in its place), plus
   * `extraKey`=`extraValue` for this entry alone, merged the same way. `tags` is what
   * prepare() returned for the point.
   */
  private entry(m: MetricInfo, attrs: PointAttributes, tags: number, suffix: Piece, meta: SeriesMeta, value: number, tsMs: number, histogram?: object, extraKey?: Piece, extraValue?: string): void {
    if (attrs instanceof InPlaceAttributes) {
      this.entryInPlace(m, attrs.src, suffix.bytes, tags, meta, value, tsMs, histogram, extraKey?.bytes, extraValue);
      return;
    }
    const name = suffix === NO_SUFFIX ? m.name : m.name + suffix.text;
    this.enc.sample(this.enc.series(name, this.pointTags(attrs, extraKey?.text, extraValue), meta), value, tsMs, histogram);
  }

  /** Merges the point's attributes over the base tags. */
  private pointTags(attrs: readonly string[], extraKey?: string, extraValue?: string): string[] {
    const t = this.tags;
    t.length = 0;
    for (let i = 0; i < this.base.length; i++) t.push(this.base[i]!);
    for (let i = 0; i < attrs.length; i++) t.push(attrs[i]!);
    if (extraKey !== undefined) t.push(extraKey, extraValue!);
    return dedupeLastWins(t);
  }

  /**
   * For attributes read in place: pointTags() once for all the point's entries, on byte
   * ranges. The base tags (encoded once per scope), then the attributes copied after them
   * in the scratch, each replacing a tag of the same key in its place or appended. Leaves
   * ranges[2, 2 + 4 * tags) and pointEnd; returns tags. 0 for string attributes.
   */
  private prepare(attrs: PointAttributes): number {
    if (!(attrs instanceof InPlaceAttributes)) return 0;
    const { src, ranges: a, count } = attrs;
    if (this.baseEnd < 0 || baseOwner !== this) this.encodeBase();
    else if (this.prepared >= 0 && count === this.preparedCount && this.samePrepared(src, a, count)) return this.prepared;
    let size = 0;
    for (let k = 0; k < 4 * count; k += 2) size += a[k + 1]! - a[k]!;
    const s = this.baseEnd + size > scratch.length ? this.grow(this.baseEnd + size, this.baseEnd) : scratch;
    const r = ranges;
    const baseCount = this.base.length >> 1;
    for (let k = 0; k < 4 * baseCount; k++) r[2 + k] = baseRanges[k]!;
    let p = this.baseEnd;
    let tags = baseCount;
    for (let k = 0; k < 4 * count; k += 4) {
      const keyStart = p;
      for (let i = a[k]!; i < a[k + 1]!; i++) s[p++] = src[i]!;
      const keyEnd = p;
      for (let i = a[k + 2]!; i < a[k + 3]!; i++) s[p++] = src[i]!;
      const j = tagRangeIndex(s, r, tags, keyStart, keyEnd);
      const at = 2 + 4 * j;
      if (j === tags) {
        r[at] = keyStart;
        r[at + 1] = keyEnd;
        tags++;
      }
      r[at + 2] = keyEnd;
      r[at + 3] = p;
    }
    this.pointEnd = p;
    for (let k = 0; k < 2 * count; k++) preparedLengths[k] = a[2 * k + 1]! - a[2 * k]!;
    this.preparedCount = count;
    this.prepared = tags;
    return tags;
  }

  /** Whether `count` attributes of `src` at ranges `a` are the ones prepare() copied last. */
  private samePrepared(src: Uint8Array, a: Int32Array, count: number): boolean {
    const lengths = preparedLengths;
    const s = scratch;
    let p = this.baseEnd;
    for (let k = 0; k < 2 * count; k++) {
      const start = a[2 * k]!;
      const end = a[2 * k + 1]!;
      if (end - start !== lengths[k]) return false;
      for (let i = start; i < end; i++) if (s[p++] !== src[i]) return false;
    }
    return true;
  }

  /** entry() for attributes read in place: the name and the extra tag go after the point's bytes. */
  private entryInPlace(m: MetricInfo, src: Uint8Array, suffix: Uint8Array, tags: number, meta: SeriesMeta, value: number, tsMs: number, histogram?: object, extraKey?: Uint8Array, extraValue?: string): void {
    const nameStart = m.nameStart ?? 0;
    const nameEnd = m.nameEnd ?? 0;
    const extra = extraKey === undefined ? 0 : extraKey.length + extraValue!.length;
    const needed = this.pointEnd + nameEnd - nameStart + suffix.length + extra;
    const s = needed > scratch.length ? this.grow(needed, this.pointEnd) : scratch;
    const r = ranges;
    let p = this.pointEnd;
    r[0] = p;
    for (let k = nameStart; k < nameEnd; k++) s[p++] = src[k]!;
    for (let k = 0; k < suffix.length; k++) s[p++] = suffix[k]!;
    r[1] = p;
    if (extraKey === undefined) {
      this.enc.sample(this.enc.seriesFromBytes(s, r, tags, meta), value, tsMs, histogram);
      return;
    }
    const keyStart = p;
    for (let k = 0; k < extraKey.length; k++) s[p++] = extraKey[k]!;
    const keyEnd = p;
    for (let k = 0; k < extraValue!.length; k++) s[p++] = extraValue!.charCodeAt(k); // formatLe's: ASCII
    const j = tagRangeIndex(s, r, tags, keyStart, keyEnd);
    const at = 2 + 4 * j;
    const valueStart = r[at + 2]!;
    const valueEnd = r[at + 3]!;
    if (j === tags) {
      r[at] = keyStart;
      r[at + 1] = keyEnd;
    }
    r[at + 2] = keyEnd;
    r[at + 3] = p;
    this.enc.sample(this.enc.seriesFromBytes(s, r, j === tags ? tags + 1 : tags, meta), value, tsMs, histogram);
    // The point's own tag of that key, for its next entries.
    r[at + 2] = valueStart;
    r[at + 3] = valueEnd;
  }

  /** The base tags as UTF-8 at the scratch's start, their ranges in baseRanges. */
  private encodeBase(): void {
    if (scratch.length > SCRATCH_KEEP) scratch = Buffer.allocUnsafe(1024); // a long attribute's, not kept
    baseOwner = this;
    const base = this.base;
    let size = 0;
    for (let i = 0; i < base.length; i++) size += 3 * base[i]!.length;
    const s = size > scratch.length ? this.grow(size, 0) : scratch;
    let p = 0;
    for (let i = 0; i < base.length; i++) {
      const t = base[i]!;
      baseRanges[2 * i] = p;
      // ASCII char by char (most attribute keys and values): no native call per string.
      let k = 0;
      for (; k < t.length; k++) {
        const c = t.charCodeAt(k);
        if (c >= 0x80) break;
        s[p + k] = c;
      }
      p += k === t.length ? k : s.write(t, p, 'utf8');
      baseRanges[2 * i + 1] = p;
    }
    this.baseEnd = p;
  }

  /** A larger scratch with the first `keep` bytes of the current one. */
  private grow(needed: number, keep: number): Buffer {
    const grown = Buffer.allocUnsafe(doubledCapacity(scratch.length, needed));
    scratch.copy(grown, 0, 0, keep);
    scratch = grown;
    return grown;
  }
}

/**
 * The in-place entries' bytes: the base tags encoded once per scope at [0, baseEnd), the
 * current point's attributes after them, then the entry's name (and `le`/`quantile`);
 * `ranges` holds the entry's seriesFromBytes ranges (the name's, then the tags', base
 * first). Per thread, shared by the emitters (one per request; allocating these per
 * emitter doubled a one-point request's decoding time, bench/decode-ab.ts): an emitter
 * encodes its base again when another one has used the scratch since (baseOwner).
 */
let scratch: Buffer = Buffer.allocUnsafe(1024);
/** The emitter whose base tags the scratch holds. */
let baseOwner: OtlpEmitter | undefined;
const SCRATCH_KEEP = 1 << 20;
const baseRanges = new Int32Array(4 * MAX_IN_PLACE_TAGS);
const ranges = new Int32Array(2 + 4 * MAX_IN_PLACE_TAGS);
/** The key and value lengths of baseOwner's last prepared point (OtlpEmitter.prepared); shared, not one typed array per request's emitter. */
const preparedLengths = new Int32Array(2 * MAX_IN_PLACE_TAGS);

/** Sets key=value in a flat tag list, replacing an existing key. */
export function mergeInto(tags: string[], key: string, value: string): void {
  for (let i = 0; i < tags.length; i += 2) {
    if (tags[i] === key) {
      tags[i + 1] = value;
      return;
    }
  }
  tags.push(key, value);
}

/** A bucket bound or quantile as Prometheus writes it in `le` / `quantile`. */
export function formatLe(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

/** An OTLP exponential-histogram point in the record's native-histogram form. */
export function exponentialToNative(p: {
  count: number;
  sum?: number;
  scale: number;
  zeroCount: number;
  zeroThreshold: number;
  positiveOffset: number;
  positive: number[];
  negativeOffset: number;
  negative: number[];
  min?: number;
  max?: number;
}): Record<string, unknown> {
  const h: Record<string, unknown> = {
    schema: p.scale,
    count: p.count,
    sum: p.sum ?? NaN,
    zero_threshold: p.zeroThreshold,
    zero_count: p.zeroCount,
    positive_spans: p.positive.length > 0 ? [{ offset: p.positiveOffset + 1, length: p.positive.length }] : [],
    positive_counts: p.positive,
    negative_spans: p.negative.length > 0 ? [{ offset: p.negativeOffset + 1, length: p.negative.length }] : [],
    negative_counts: p.negative,
  };
  if (p.min !== undefined) h.min = p.min;
  if (p.max !== undefined) h.max = p.max;
  return h;
}
