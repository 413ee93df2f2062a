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
 */
import type { Sample } from './samples.ts';
import type { WireFormat } from './wire-format.ts';

const MEASUREMENT_SPECIAL = /[, ]/g;
const TAG_SPECIAL = /[,= ]/g;
/** A newline, or a backslash at the end or before a special character. */
const UNREPRESENTABLE = /[\n\r]|\\$|\\[,= ]/;

/** Whether line protocol can carry this sample exactly. */
export function influxRepresentable(s: Sample): boolean {
  if (!Number.isFinite(s.value)) return false;
  if (UNREPRESENTABLE.test(s.name)) return false;
  for (const [k, v] of s.tags) if (UNREPRESENTABLE.test(k) || UNREPRESENTABLE.test(v)) return false;
  return true;
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

/** One line (without the newline) for a representable sample. */
export function influxLine(s: Sample): string {
  let line = escapeMeasurement(s.name);
  for (const [k, v] of s.tags) line += `,${escapeTag(k)}=${escapeTag(v)}`;
  return `${line} value=${String(s.value)} ${nanoseconds(s.timestamp)}`;
}

/** Line protocol with ns timestamps. Callers pass only influxRepresentable samples. */
export const influxFormat: WireFormat = {
  name: 'influx',
  representable: influxRepresentable,
  encode(samples) {
    let text = '';
    for (const s of samples) text += influxLine(s) + '\n';
    return { body: Buffer.from(text), headers: { 'content-type': 'text/plain; charset=utf-8', 'user-agent': 'metricstream-consumer' } };
  },
  prepareUrl(url) {
    const u = new URL(url);
    u.searchParams.set('precision', 'ns');
    return u;
  },
};
