/**
 * From consumed records (the shared record format, SPEC: `{"metrics":[{name, value,
 * timestamp?, tags?, type?, unit?, help?, histogram?}]}`) to samples, the one shape every
 * output protocol encodes. What cannot become a sample is counted by reason, never
 * dropped silently; records whose value is not the record format at all are returned for
 * the dead letter.
 *
 * Samples are columns (SampleBatch: a series, a value, a timestamp, a record index and
 * the metadata per sample, in typed arrays or arrays of shared references), not one
 * object per sample: a consumer delivering a million samples a second cannot afford an
 * object, a tag array and a key string per sample for the garbage collector. What is
 * per series (the sorted labels, the protocol's encoding of them, the lane) is computed
 * once per series and kept in a SeriesTable across batches; a sample only looks its
 * series up by a key built from its name and tags as they come.
 */
import { materialize } from '../decode.ts';
import type { ConsumedRecord } from '../plain-reader.ts';
import { readMsgpackRecord } from './msgpack-samples.ts';

/** One series: name and labels, and what the protocols cache about it. */
export interface SeriesInfo {
  /** Metric name (Prometheus __name__, Influx measurement). */
  readonly name: string;
  /** Tags sorted by name, without empty values and without a "__name__" tag (the name wins). */
  readonly tags: readonly [string, string][];
  /** Unambiguous identity (name and sorted tags, length-prefixed): equal labels, equal key. */
  readonly key: string;
  /** FNV-1a of key, to pick a lane. */
  readonly hash: number;
  /** Per-protocol caches (encoded labels, line-protocol prefix), set by the wire format. */
  cache: { remoteWrite?: Buffer; influx?: Buffer | null };
  /** Scratch of the encoder grouping one request's samples by series (synchronous use only). */
  mark: number;
  count: number;
  bytes: number;
  fill: number;
  /** The metadata last seen with this series, to reuse its Metadata without a lookup. */
  lastMeta: Metadata | undefined;
}

/** type/unit/help of a sample (the record format's optional fields), interned. */
export interface Metadata {
  readonly name: string;
  readonly type: string | undefined;
  readonly unit: string | undefined;
  readonly help: string | undefined;
  /** Per-protocol cache (the encoded MetricMetadata). */
  cache: { remoteWrite?: { family: string; bytes: Buffer } };
  /** Scratch of the encoder (synchronous use only). */
  mark: number;
}

/** One value of one series at one time, as an object (tests, slow paths). */
export interface Sample {
  name: string;
  tags: readonly [string, string][];
  value: number;
  timestamp: number;
  record: number;
  series: string;
  type?: string;
  unit?: string;
  help?: string;
}

/** Why an entry did not become a sample. */
export type SkipReason = 'native_histogram' | 'invalid_entry' | 'unrepresentable';

/** FNV-1a of a string, for picking a lane. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function byName(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** A node of the raw-tags trie: name, then (tag, value) pairs in the order they came. */
export interface TrieNode {
  series: SeriesInfo | undefined;
  next: Map<string, Map<string, TrieNode>> | undefined;
}

/**
 * Series known so far, found from a name and a tags object as they came through a trie
 * (name, then each tag and its value in the order sent: Map lookups on the strings the
 * decoder made, no key string built per sample), and by their labels (`canonical`), so
 * that one label set is one SeriesInfo whatever order its tags came in (two TimeSeries
 * with the same labels in a request could reach Prometheus out of order). Bounded: past
 * `maxSeries` paths (default 50,000: about 1.3 KB each with four tags, 65 MB) it starts
 * over (the SeriesInfo objects in use stay valid; they are only not found again), so more
 * active series than that cost their lookups again, not memory.
 */
export class SeriesTable {
  #root = new Map<string, TrieNode>();
  #paths = 0;
  readonly #canonical = new Map<string, SeriesInfo>();
  readonly #meta = new Map<string, Metadata>();
  readonly #max: number;

  constructor(maxSeries = 50_000) {
    this.#max = maxSeries;
  }

  get size(): number {
    return this.#canonical.size;
  }

  /**
   * The series of `name` with `rawTags` (a record's tags object). null/undefined values are
   * left out of the path (as the labels drop them), other values go as String() (as they are
   * labelled): equal paths always mean equal labels.
   */
  lookup(name: string, rawTags: unknown): SeriesInfo {
    let node = this.start(name);
    if (rawTags !== null && typeof rawTags === 'object') {
      for (const k in rawTags as Record<string, unknown>) {
        const v = (rawTags as Record<string, unknown>)[k];
        if (v === undefined || v === null) continue;
        node = this.step(node, k, typeof v === 'string' ? v : String(v));
      }
    }
    return (node.series ??= this.#add(name, rawTags));
  }

  /** The trie node of `name` (a lookup tag by tag: start, step per tag, finish). */
  start(name: string): TrieNode {
    let node = this.#root.get(name);
    if (node === undefined) {
      node = { series: undefined, next: undefined };
      this.#root.set(name, node);
    }
    return node;
  }

  /** The node after tag `k` = `value` (the value as its label text). */
  step(node: TrieNode, k: string, value: string): TrieNode {
    node.next ??= new Map();
    let byValue = node.next.get(k);
    if (byValue === undefined) {
      byValue = new Map();
      node.next.set(k, byValue);
    }
    let child = byValue.get(value);
    if (child === undefined) {
      child = { series: undefined, next: undefined };
      byValue.set(value, child);
    }
    return child;
  }

  /** The series at `node`, reached from `name` with the tags `keys[i]` = `values[i]` (i < n). */
  finish(node: TrieNode, name: string, keys: readonly string[], values: readonly string[], n: number): SeriesInfo {
    if (node.series !== undefined) return node.series;
    const tags = Object.create(null) as Record<string, string>; // "__proto__" is a tag like any other
    for (let i = 0; i < n; i++) tags[keys[i]] = values[i];
    return (node.series = this.#add(name, tags));
  }

  #add(name: string, rawTags: unknown): SeriesInfo {
    if (this.#paths >= this.#max) {
      // Starting over: the nodes of the path being looked up are dropped with the rest,
      // which only costs the next lookup of that path.
      this.#root = new Map();
      this.#paths = 0;
      this.#canonical.clear();
      this.#meta.clear();
    }
    this.#paths++;
    const tags: [string, string][] = [];
    if (rawTags !== null && typeof rawTags === 'object') {
      for (const k in rawTags as Record<string, unknown>) {
        const v = (rawTags as Record<string, unknown>)[k];
        if (k === '' || k === '__name__' || v === '' || v === undefined || v === null) continue;
        tags.push([k, typeof v === 'string' ? v : String(v)]);
      }
      tags.sort(byName);
    }
    let key = `${name.length}:${name}`;
    for (const [k, v] of tags) key += `|${k.length}:${k}${v.length}:${v}`;
    let info = this.#canonical.get(key);
    if (info === undefined) {
      info = { name, tags, key, hash: hashString(key), cache: {}, mark: 0, count: 0, bytes: 0, fill: 0, lastMeta: undefined };
      this.#canonical.set(key, info);
    }
    return info;
  }

  /** The interned metadata of a sample of `series` (undefined when it has none). */
  metadata(series: SeriesInfo, type: string | undefined, unit: string | undefined, help: string | undefined): Metadata | undefined {
    if (type === undefined && unit === undefined && help === undefined) return undefined;
    const last = series.lastMeta;
    if (last !== undefined && last.type === type && last.unit === unit && last.help === help) return last;
    const key = `${series.name.length}:${series.name}${type ?? ''}\u0000${unit ?? ''}\u0000${help ?? ''}`;
    let m = this.#meta.get(key);
    if (m === undefined) {
      m = { name: series.name, type, unit, help, cache: {}, mark: 0 };
      this.#meta.set(key, m);
    }
    series.lastMeta = m;
    return m;
  }
}

/** A batch's samples, as columns. Index i is one sample; ordered as extracted (offset order). */
export class SampleBatch {
  length = 0;
  series: SeriesInfo[] = [];
  meta: (Metadata | undefined)[] = [];
  values: Float64Array;
  timestamps: Float64Array;
  records: Int32Array;

  constructor(capacity = 1024) {
    this.values = new Float64Array(capacity);
    this.timestamps = new Float64Array(capacity);
    this.records = new Int32Array(capacity);
  }

  push(series: SeriesInfo, meta: Metadata | undefined, value: number, timestamp: number, record: number): void {
    const i = this.length;
    if (i === this.values.length) this.#grow();
    this.series.push(series);
    this.meta.push(meta);
    this.values[i] = value;
    this.timestamps[i] = timestamp;
    this.records[i] = record;
    this.length = i + 1;
  }

  /** Drops the samples from index `n` on. */
  truncate(n: number): void {
    this.length = n;
    this.series.length = n;
    this.meta.length = n;
  }

  #grow(): void {
    const n = this.values.length * 2;
    const v = new Float64Array(n);
    v.set(this.values);
    this.values = v;
    const t = new Float64Array(n);
    t.set(this.timestamps);
    this.timestamps = t;
    const r = new Int32Array(n);
    r.set(this.records);
    this.records = r;
  }

  /** Sample i as an object. */
  at(i: number): Sample {
    const s = this.series[i];
    const m = this.meta[i];
    const out: Sample = { name: s.name, tags: s.tags, value: this.values[i], timestamp: this.timestamps[i], record: this.records[i], series: s.key };
    if (m?.type !== undefined) out.type = m.type;
    if (m?.unit !== undefined) out.unit = m.unit;
    if (m?.help !== undefined) out.help = m.help;
    return out;
  }

  /** Every sample as an object (tests). */
  toArray(): Sample[] {
    return Array.from({ length: this.length }, (_, i) => this.at(i));
  }

  /** Indexes 0..length-1, stably sorted by timestamp (oldest first). */
  byTime(): Uint32Array {
    const idx = new Uint32Array(this.length);
    let sorted = true;
    const ts = this.timestamps;
    for (let i = 0; i < this.length; i++) {
      idx[i] = i;
      if (i > 0 && ts[i] < ts[i - 1]) sorted = false;
    }
    if (!sorted) idx.sort((a, b) => ts[a] - ts[b] || a - b);
    return idx;
  }
}

/** Samples of a batch, what was skipped, and the records that are not the record format. */
export interface ExtractedBatch {
  samples: SampleBatch;
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

/**
 * Flattens `records` into samples. An entry with a `histogram` object (native or
 * exponential histogram) is skipped as 'native_histogram'; one without a string name or a
 * numeric value as 'invalid_entry'. A missing timestamp takes the record's. `table` keeps
 * the series across batches (a new one each call when not given).
 */
export function extractSamples(records: readonly ConsumedRecord[], table = new SeriesTable()): ExtractedBatch {
  const samples = new SampleBatch(Math.max(16, records.length));
  const skipped = new Map<SkipReason, number>();
  const undecodable: { record: number; reason: string }[] = [];
  const skip = (reason: SkipReason): void => {
    skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  };
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.encoded !== undefined) {
      // Left undecoded by the consumer (deferMsgpack): read straight into samples, or
      // decoded the general way when it is not the plain record format.
      if (readMsgpackRecord(r.encoded, r.timestamp, i, table, samples, skipped)) continue;
      materialize(r);
    }
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
      const ts = e.timestamp === undefined || e.timestamp === null ? r.timestamp : toNumber(e.timestamp);
      const value = toNumber(e.value);
      if (typeof name !== 'string' || name === '' || value === null || ts === null || !Number.isFinite(ts)) {
        skip('invalid_entry');
        continue;
      }
      const rawTags = e.tags;
      const series = table.lookup(name, rawTags);
      const meta = table.metadata(series, optString(e.type), optString(e.unit), optString(e.help));
      samples.push(series, meta, value, ts, i);
    }
  }
  return { samples, skipped, undecodable };
}
