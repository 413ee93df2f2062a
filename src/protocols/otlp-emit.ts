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
import { dedupeLastWins } from '../records/tags.ts';

export const NO_RECORDED_VALUE = 1;

export interface MetricInfo {
  name: string;
  help: string;
  unit: string;
}

export class OtlpEmitter {
  readonly enc: RecordEncoder;
  /** Tags from resource and scope, as a flat [k, v, ...] list. */
  base: string[] = [];
  private baseResourceLength = 0;
  private readonly tags: string[] = [];
  rejected = 0;
  firstError = '';
  points = 0;

  constructor(enc: RecordEncoder) {
    this.enc = enc;
  }

  /** A new resource: its attributes become the base tags. */
  resource(attrs: string[]): void {
    this.base = dedupeLastWins(attrs.slice());
    this.baseResourceLength = this.base.length;
  }

  /** A new scope within the current resource. */
  scope(name: string, version: string): void {
    this.base.length = this.baseResourceLength;
    if (name !== '') mergeInto(this.base, 'otel_scope_name', name);
    if (version !== '') mergeInto(this.base, 'otel_scope_version', version);
  }

  reject(n: number, why: string): void {
    this.rejected += n;
    if (this.firstError === '') this.firstError = why;
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

  private meta(m: MetricInfo, type: string, temporality?: number): SeriesMeta {
    return { type, unit: m.unit, help: m.help, temporality: temporality === 1 ? 'delta' : undefined };
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
  number(m: MetricInfo, type: 'gauge' | 'counter', temporality: number, attrs: readonly string[], tsMs: number, value: number | undefined, flags: number): void {
    if (!this.valid(m, tsMs)) return;
    if (flags & NO_RECORDED_VALUE) value = NaN;
    if (value === undefined) {
      this.reject(1, `${m.name}: number data point without a value`);
      return;
    }
    this.enc.sample(this.enc.series(m.name, this.pointTags(attrs), this.meta(m, type, temporality)), value, tsMs);
  }

  /** An explicit-bucket histogram point: per-bucket counts, bounds.length + 1 of them (or none). */
  histogram(m: MetricInfo, temporality: number, attrs: readonly string[], tsMs: number, count: number, sum: number | undefined, bounds: readonly number[], counts: readonly number[], flags: number): void {
    if (!this.valid(m, tsMs)) return;
    if (counts.length !== 0 && counts.length !== bounds.length + 1) {
      this.reject(1, `${m.name}: histogram with ${counts.length} bucket counts for ${bounds.length} bounds`);
      return;
    }
    const stale = (flags & NO_RECORDED_VALUE) !== 0;
    const meta = this.meta(m, 'histogram', temporality);
    const enc = this.enc;
    let cumulative = 0;
    for (let b = 0; b < counts.length; b++) {
      cumulative += counts[b]!;
      const le = b < bounds.length ? formatLe(bounds[b]!) : '+Inf';
      enc.sample(enc.series(`${m.name}_bucket`, this.pointTags(attrs, 'le', le), meta), stale ? NaN : cumulative, tsMs);
    }
    if (counts.length === 0) enc.sample(enc.series(`${m.name}_bucket`, this.pointTags(attrs, 'le', '+Inf'), meta), stale ? NaN : count, tsMs);
    const tags = this.pointTags(attrs);
    if (sum !== undefined) enc.sample(enc.series(`${m.name}_sum`, tags, meta), stale ? NaN : sum, tsMs);
    enc.sample(enc.series(`${m.name}_count`, tags, meta), stale ? NaN : count, tsMs);
  }

  /** An exponential histogram point, already in the record's `histogram` form. */
  exponential(m: MetricInfo, temporality: number, attrs: readonly string[], tsMs: number, histogram: { count: number }, flags: number): void {
    if (!this.valid(m, tsMs)) return;
    const value = flags & NO_RECORDED_VALUE ? NaN : histogram.count;
    this.enc.sample(this.enc.series(m.name, this.pointTags(attrs), this.meta(m, 'histogram', temporality)), value, tsMs, histogram);
  }

  /** A summary point. `quantiles` is a flat [q, value, ...] list. */
  summary(m: MetricInfo, attrs: readonly string[], tsMs: number, count: number, sum: number, quantiles: readonly number[], flags: number): void {
    if (!this.valid(m, tsMs)) return;
    const stale = (flags & NO_RECORDED_VALUE) !== 0;
    const meta = this.meta(m, 'summary');
    const enc = this.enc;
    for (let q = 0; q < quantiles.length; q += 2) {
      enc.sample(enc.series(m.name, this.pointTags(attrs, 'quantile', formatLe(quantiles[q]!)), meta), stale ? NaN : quantiles[q + 1]!, tsMs);
    }
    const tags = this.pointTags(attrs);
    enc.sample(enc.series(`${m.name}_sum`, tags, meta), stale ? NaN : sum, tsMs);
    enc.sample(enc.series(`${m.name}_count`, tags, meta), stale ? NaN : count, tsMs);
  }
}

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
