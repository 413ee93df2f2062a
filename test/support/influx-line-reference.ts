/**
 * The line protocol parser as it was before it read bytes in place (string tokens, one
 * series() per entry): the oracle the byte parser is tested against
 * (test/protocols/influx-line-bytes.test.ts). Kept verbatim; not used by the gateway.
 */
import type { RecordEncoder } from '../../src/records/record-encoder.ts';
import { dedupeLastWins } from '../../src/records/tags.ts';
import { LineProtocolError, timestampMs, type LineStats, type Precision } from '../../src/protocols/influx-line.ts';

const NL = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const COMMA = 44;
const EQ = 61;
const BACKSLASH = 92;
const QUOTE = 34;
const HASH = 35;

/**
 * Parses `text` into `enc`; `nowMs` is the timestamp of lines without one. Throws
 * LineProtocolError for the first bad line.
 */
export function parseLineProtocolReference(text: string, precision: Precision, nowMs: number, enc: RecordEncoder): LineStats {
  const stats: LineStats = { samples: 0, lines: 0, stringFieldsDropped: 0 };
  const n = text.length;
  let i = 0;
  let line = 1;
  const tags: string[] = [];
  const fieldNames: string[] = [];
  const fieldValues: number[] = [];

  const fail = (msg: string): never => {
    throw new LineProtocolError(line, msg);
  };

  /** Reads an escaped token up to an unescaped stop character. */
  const token = (stopEq: boolean, what: string): string => {
    const start = i;
    let out = '';
    let from = start;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === BACKSLASH && i + 1 < n) {
        const d = text.charCodeAt(i + 1);
        if (d === COMMA || d === SPACE || (stopEq && d === EQ)) {
          out += text.slice(from, i) + text[i + 1];
          i += 2;
          from = i;
          continue;
        }
        i++;
        continue;
      }
      if (c === COMMA || c === SPACE || c === NL || (stopEq && c === EQ)) break;
      if (c === CR && (i + 1 >= n || text.charCodeAt(i + 1) === NL)) break;
      i++;
    }
    out += text.slice(from, i);
    if (out.length === 0) fail(`empty ${what}`);
    return out;
  };

  while (i < n) {
    // Line start: leading whitespace, blank lines, comments.
    while (i < n && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB)) i++;
    if (i >= n) break;
    let c = text.charCodeAt(i);
    if (c === NL || c === CR) {
      if (c === NL) line++;
      i++;
      continue;
    }
    if (c === HASH) {
      while (i < n && text.charCodeAt(i) !== NL) i++;
      continue;
    }
    stats.lines++;
    // The measurement: only `,` and ` ` end it (an `=` is part of the name).
    const measurement = token(false, 'measurement');
    tags.length = 0;
    while (i < n && text.charCodeAt(i) === COMMA) {
      i++;
      const key = token(true, 'tag key');
      if (text.charCodeAt(i) !== EQ) fail(`tag "${key}" has no "=value"`);
      i++;
      const value = token(true, 'tag value');
      tags.push(key, value);
    }
    dedupeLastWins(tags); // a repeated tag key: the last one wins, as in InfluxDB
    if (i >= n || text.charCodeAt(i) !== SPACE) fail('missing fields (expected a space after the measurement and tags)');
    while (i < n && text.charCodeAt(i) === SPACE) i++;
    // Fields.
    fieldNames.length = 0;
    fieldValues.length = 0;
    for (;;) {
      const key = token(true, 'field key');
      if (text.charCodeAt(i) !== EQ) fail(`field "${key}" has no "=value"`);
      i++;
      if (i >= n) fail(`field "${key}" has no value`);
      c = text.charCodeAt(i);
      if (c === QUOTE) {
        i++;
        let closed = false;
        while (i < n) {
          const d = text.charCodeAt(i);
          if (d === BACKSLASH && i + 1 < n) {
            i += 2;
            continue;
          }
          if (d === NL) line++;
          if (d === QUOTE) {
            closed = true;
            i++;
            break;
          }
          i++;
        }
        if (!closed) fail(`string field "${key}" has no closing quote`);
        stats.stringFieldsDropped++;
      } else {
        const start = i;
        while (i < n) {
          const d = text.charCodeAt(i);
          if (d === COMMA || d === SPACE || d === NL || d === CR) break;
          i++;
        }
        const raw = text.slice(start, i);
        fieldNames.push(key);
        fieldValues.push(fieldValue(raw, key, fail));
      }
      if (i < n && text.charCodeAt(i) === COMMA) {
        i++;
        continue;
      }
      break;
    }
    // Optional timestamp.
    let ts = nowMs;
    while (i < n && text.charCodeAt(i) === SPACE) i++;
    if (i < n && text.charCodeAt(i) !== NL && text.charCodeAt(i) !== CR) {
      const start = i;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === NL || d === CR || d === SPACE || d === TAB) break;
        i++;
      }
      ts = timestampFast(text, start, i, precision);
      if (Number.isNaN(ts)) ts = timestampMs(text.slice(start, i), precision, fail);
      while (i < n && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB)) i++;
    }
    if (i < n && text.charCodeAt(i) === CR) i++;
    if (i < n && text.charCodeAt(i) !== NL) fail(`unexpected "${text.slice(i, i + 20)}" after the timestamp`);
    for (let f = 0; f < fieldNames.length; f++) {
      enc.sample(enc.series(`${measurement}_${fieldNames[f]}`, tags), fieldValues[f]!, ts);
      stats.samples++;
    }
  }
  return stats;
}

const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d+$/;

function fieldValue(raw: string, key: string, fail: (msg: string) => never): number {
  if (raw.length === 0) fail(`field "${key}" has no value`);
  const last = raw.charCodeAt(raw.length - 1);
  if (last === 105 /* i */ || last === 117 /* u */) {
    const digits = raw.slice(0, -1);
    if (!INT_RE.test(digits)) fail(`field "${key}": invalid integer ${raw}`);
    if (last === 117 && digits.charCodeAt(0) === 45) fail(`field "${key}": unsigned integer ${raw} is negative`);
    return Number(digits);
  }
  switch (raw) {
    case 't':
    case 'T':
    case 'true':
    case 'True':
    case 'TRUE':
      return 1;
    case 'f':
    case 'F':
    case 'false':
    case 'False':
    case 'FALSE':
      return 0;
  }
  if (!FLOAT_RE.test(raw)) fail(`field "${key}": invalid value ${raw}`);
  const v = Number(raw);
  if (!Number.isFinite(v)) fail(`field "${key}": value ${raw} is out of range`);
  return v;
}

const TS_RE = /^-?\d{1,19}$/;

/**
 * The common timestamp, read in place: unsigned digits in ns, us or ms whose whole-ms part
 * has at most 15 digits (exact in a double, so the result is timestampMs's, bit for bit).
 * NaN for anything else, which timestampMs then reads (or refuses, with its message).
 * Why: a slice, a regular expression and two more slices per line were a sixth of the
 * decoder's time at 100 lines per request (bench/decode-ab.ts --protocols influx).
 */
function timestampFast(text: string, start: number, end: number, precision: Precision): number {
  const cut = precision === 'ns' ? 6 : precision === 'us' ? 3 : precision === 'ms' ? 0 : -1;
  const digits = end - start;
  if (cut < 0 || digits === 0 || digits > 19 || digits - cut > 15) return NaN;
  const split = end - Math.min(cut, digits);
  let whole = 0;
  let frac = 0;
  for (let k = start; k < end; k++) {
    const d = text.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return NaN;
    if (k < split) whole = whole * 10 + d;
    else frac = frac * 10 + d;
  }
  if (cut === 0) return whole;
  return frac === 0 ? whole : whole + frac / (precision === 'ns' ? 1e6 : 1e3);
}

