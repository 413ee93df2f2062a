/**
 * How the consume CLI prints records and lag: ndjson (the default, the plain reader's
 * format, one JSON object per line) or pretty (one aligned line for humans).
 */
import { jsonReplacer } from './plain-reader.ts';
import type { ConsumedRecord } from './plain-reader.ts';
import type { PartitionLag } from './types.ts';

export type OutputFormat = 'ndjson' | 'pretty';

/**
 * One record as a JSON line {"partition","offset","key","timestamp","value"}; a value that
 * cannot be decoded is printed as "valueBase64" with a "valueError".
 */
export function ndjsonLine(r: ConsumedRecord): string {
  const out: Record<string, unknown> = {
    partition: r.partition,
    offset: r.offset,
    key: r.key,
    timestamp: r.timestamp,
  };
  if (r.format !== undefined) out.format = r.format;
  if (r.valueError === undefined) {
    out.value = r.value;
    try {
      return JSON.stringify(out, jsonReplacer);
    } catch (e) {
      // A value too large to print (a string over V8's limit): report it like an
      // undecodable one instead of crashing the consumer on every restart.
      unprintable(r, e);
      delete out.value;
    }
  }
  out.valueBase64 = Buffer.from(r.rawValue ?? new Uint8Array(0)).toString('base64');
  out.valueError = r.valueError;
  return JSON.stringify(out, jsonReplacer);
}

/** Turns a decoded record whose value cannot be printed into one with a valueError. */
function unprintable(r: ConsumedRecord, e: unknown): void {
  r.valueError = `value cannot be printed: ${(e as Error).message}`;
  r.value = undefined;
}

/** One record for humans: `p1 @12  2023-11-14T22:13:20.100Z  client-1  {"metrics":[...]}`. */
export function prettyLine(r: ConsumedRecord): string {
  const when = Number.isFinite(r.timestamp) ? new Date(r.timestamp).toISOString() : String(r.timestamp);
  let value: string | undefined;
  if (r.valueError === undefined) {
    try {
      value = JSON.stringify(r.value, jsonReplacer);
    } catch (e) {
      unprintable(r, e);
    }
  }
  value ??= `<${r.valueError}: ${Buffer.from(r.rawValue ?? new Uint8Array(0)).toString('base64')}>`;
  return `p${r.partition} @${r.offset}  ${when}  ${r.key}  ${value}`;
}

/** A record line in `format`, without the newline. */
export function recordLine(r: ConsumedRecord, format: OutputFormat): string {
  return format === 'pretty' ? prettyLine(r) : ndjsonLine(r);
}

/** Lag per partition: JSON lines, or a table with a total. Ends with a newline. */
export function lagText(group: string, lag: PartitionLag[], format: OutputFormat): string {
  if (format === 'ndjson') {
    return lag.map((l) => JSON.stringify({ group, ...l }) + '\n').join('');
  }
  const rows = [
    ['GROUP', 'PARTITION', 'END-OFFSET', 'COMMITTED', 'LAG'],
    ...lag.map((l) => [group, String(l.partition), String(l.endOffset), l.committedOffset === null ? '-' : String(l.committedOffset), String(l.lag)]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const text = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
  return `${text}\ntotal lag: ${lag.reduce((s, l) => s + l.lag, 0)}\n`;
}
