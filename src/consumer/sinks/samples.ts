/**
 * From consumed records (the shared record format, SPEC: `{"metrics":[{name, value,
 * timestamp?, tags?, type?, unit?, help?, histogram?}]}`) to flat samples, the one shape
 * every output protocol encodes. What cannot become a sample is counted by reason, never
 * dropped silently; records whose value is not the record format at all are returned for
 * the dead letter.
 */
import type { ConsumedRecord } from '../plain-reader.ts';

/** One value of one series at one time. */
export interface Sample {
  /** Metric name (Prometheus __name__, Influx measurement). */
  name: string;
  /** Tags sorted by name, without empty values and without a "__name__" tag (the name wins). */
  tags: [string, string][];
  /** float64; NaN is a Prometheus stale marker in the record format. */
  value: number;
  /** ms since the epoch (fractions allowed). */
  timestamp: number;
  /** Index of the record it came from in the batch (for dead letters). */
  record: number;
  /** Unambiguous identity of the series (name and tags, length-prefixed). */
  series: string;
  type?: string;
  unit?: string;
  help?: string;
}

/** Why an entry did not become a sample. */
export type SkipReason = 'native_histogram' | 'invalid_entry' | 'unrepresentable';

/** Samples of a batch, what was skipped, and the records that are not the record format. */
export interface ExtractedBatch {
  samples: Sample[];
  skipped: Map<SkipReason, number>;
  /** Indexes of records whose value could not be decoded or is not `{metrics:[...]}`, with why. */
  undecodable: { record: number; reason: string }[];
}

/** The record format's JSON spellings of the non-finite values (value-format json). */
function toNumber(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v === 'NaN') return NaN;
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return null;
}

/** A bounded plain string of an optional metadata field, or undefined. */
function optString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function seriesKey(name: string, tags: [string, string][]): string {
  let key = `${name.length}:${name}`;
  for (const [k, v] of tags) key += `|${k.length}:${k}${v.length}:${v}`;
  return key;
}

function byName(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/**
 * Flattens `records` into samples. An entry with a `histogram` object (native or
 * exponential histogram) is skipped as 'native_histogram'; one without a string name or a
 * numeric value as 'invalid_entry'. A missing timestamp takes the record's.
 */
export function extractSamples(records: readonly ConsumedRecord[]): ExtractedBatch {
  const samples: Sample[] = [];
  const skipped = new Map<SkipReason, number>();
  const undecodable: { record: number; reason: string }[] = [];
  const skip = (reason: SkipReason): void => {
    skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  };
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.valueError !== undefined) {
      undecodable.push({ record: i, reason: r.valueError });
      continue;
    }
    const metrics = (r.value as { metrics?: unknown } | null | undefined)?.metrics;
    if (!Array.isArray(metrics)) {
      undecodable.push({ record: i, reason: 'value is not {"metrics":[...]}' });
      continue;
    }
    for (const m of metrics as unknown[]) {
      if (m === null || typeof m !== 'object') {
        skip('invalid_entry');
        continue;
      }
      const e = m as Record<string, unknown>;
      if (e.histogram !== undefined && e.histogram !== null) {
        skip('native_histogram');
        continue;
      }
      const name = e.name;
      const value = toNumber(e.value);
      if (typeof name !== 'string' || name === '' || value === null) {
        skip('invalid_entry');
        continue;
      }
      const ts = e.timestamp === undefined || e.timestamp === null ? r.timestamp : toNumber(e.timestamp);
      if (ts === null || !Number.isFinite(ts)) {
        skip('invalid_entry');
        continue;
      }
      const tags: [string, string][] = [];
      const rawTags = e.tags;
      if (rawTags !== null && typeof rawTags === 'object') {
        let sorted = true;
        for (const k in rawTags as Record<string, unknown>) {
          const v = (rawTags as Record<string, unknown>)[k];
          if (k === '' || k === '__name__' || v === '' || v === undefined || v === null) continue;
          if (sorted && tags.length > 0 && tags[tags.length - 1][0] > k) sorted = false;
          tags.push([k, typeof v === 'string' ? v : String(v)]);
        }
        if (!sorted) tags.sort(byName);
      }
      samples.push({
        name,
        tags,
        value,
        timestamp: ts,
        record: i,
        series: seriesKey(name, tags),
        type: optString(e.type),
        unit: optString(e.unit),
        help: optString(e.help),
      });
    }
  }
  return { samples, skipped, undecodable };
}
