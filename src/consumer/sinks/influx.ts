/**
 * InfluxDB line protocol (1.x `/write?db=…`, 2.x and 1.8+ `/api/v2/write?org=…&bucket=…`):
 * one line per sample, `measurement[,tag=value…] value=<float> <ns>`.
 *
 * Mapping: the record's name is the measurement, its tags the tags, the value the field
 * `value` (what InfluxDB's own Prometheus endpoints do). Escaping follows InfluxDB 1.x:
 * in the measurement `,` and space, in tag keys and values `,` `=` and space are
 * backslash-escaped; a backslash is written as is (1.x stores it literally). What the
 * protocol cannot carry exactly is skipped and counted as 'unrepresentable': a newline in
 * a name or tag, a backslash at the end of one or just before a character that needs
 * escaping (1.x would read it as an escape), and NaN/±Inf values (no such float in
 * line protocol; stale markers mean nothing to InfluxDB).
 *
 * A series' escaped `measurement,tags value=` prefix is built once and kept with the
 * series; per sample only the value and the timestamp are formatted, into one reused
 * buffer.
 */
import { ByteWriter } from './byte-writer.ts';
import type { Sample, SeriesInfo } from './samples.ts';
import type { WireFormat } from './wire-format.ts';

const MEASUREMENT_SPECIAL = /[, ]/g;
const TAG_SPECIAL = /[,= ]/g;
/** A newline, or a backslash at the end or before a special character. */
const UNREPRESENTABLE = /[\n\r]|\\$|\\[,= ]/;

function seriesRepresentable(name: string, tags: readonly [string, string][]): boolean {
  if (UNREPRESENTABLE.test(name)) return false;
  for (const [k, v] of tags) if (UNREPRESENTABLE.test(k) || UNREPRESENTABLE.test(v)) return false;
  return true;
}

/** Whether line protocol can carry this sample exactly. */
export function influxRepresentable(s: Sample): boolean {
  return Number.isFinite(s.value) && seriesRepresentable(s.name, s.tags);
}

function escapeMeasurement(s: string): string {
  return s.replace(MEASUREMENT_SPECIAL, '\\$&');
}

function escapeTag(s: string): string {
  return s.replace(TAG_SPECIAL, '\\$&');
}

/** ms (fractions allowed) as integer ns, in decimal: ns since 1970 pass 2^53, so no float math. */
export function nanoseconds(ms: number): string {
  if (Number.isInteger(ms)) return ms === 0 ? '0' : `${ms}000000`;
  const whole = Math.floor(ms);
  const frac = Math.round((ms - whole) * 1e6);
  return (BigInt(whole) * 1_000_000n + BigInt(frac)).toString();
}

function linePrefix(name: string, tags: readonly [string, string][]): string {
  let line = escapeMeasurement(name);
  for (const [k, v] of tags) line += `,${escapeTag(k)}=${escapeTag(v)}`;
  return `${line} value=`;
}

/** One line (without the newline) for a representable sample. */
export function influxLine(s: Sample): string {
  return `${linePrefix(s.name, s.tags)}${String(s.value)} ${nanoseconds(s.timestamp)}`;
}

/** The series' `measurement,tags value=` as UTF-8, or null when line protocol cannot hold it; built once. */
function prefixOf(s: SeriesInfo): Buffer | null {
  let p = s.cache.influx;
  if (p === undefined) {
    p = seriesRepresentable(s.name, s.tags) ? Buffer.from(linePrefix(s.name, s.tags)) : null;
    s.cache.influx = p;
  }
  return p;
}

const out = new ByteWriter();

/** Line protocol with ns timestamps. Callers pass only representable samples. */
export const influxFormat: WireFormat = {
  name: 'influx',
  representable: (batch, i) => Number.isFinite(batch.values[i]) && prefixOf(batch.series[i]) !== null,
  encode(batch, indexes) {
    out.reset();
    for (let k = 0; k < indexes.length; k++) {
      const i = indexes[k];
      const prefix = prefixOf(batch.series[i])!;
      // value: at most 24 characters; ns: at most 21 with the sign; space and newline.
      out.ensure(prefix.length + 48);
      out.bytes(prefix);
      out.ascii(String(batch.values[i]));
      out.byte(0x20);
      out.ascii(nanoseconds(batch.timestamps[i]));
      out.byte(0x0a);
    }
    return { body: Buffer.from(out.view()), headers: { 'content-type': 'text/plain; charset=utf-8', 'user-agent': 'metricstream-consumer' } };
  },
  prepareUrl(url) {
    const u = new URL(url);
    u.searchParams.set('precision', 'ns');
    return u;
  },
};
