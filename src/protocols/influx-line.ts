/**
 * InfluxDB line protocol parser writing straight into the record format.
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * Rules (InfluxDB line protocol reference):
 * - escapes: in the measurement `\,` and `\ `; in tag keys, tag values and field keys
 *   `\,`, `\=` and `\ `; a backslash before any other character is kept as is;
 * - string field values are double-quoted, with `\"` and `\\` escaped (they may span lines);
 * - field values: float (`1`, `-1.5`, `1e3`), integer `1i`, unsigned `1u`, boolean
 *   `t T true True TRUE f F false False FALSE`, string `"..."`;
 * - `#` starts a comment line; blank lines and `\r\n` endings are accepted;
 * - timestamp: an integer in the request's precision (ns, us, ms, s; v1 also n, u, m, h);
 *   absent: the time the request arrived.
 *
 * Mapping to the record format: each numeric field is one entry named
 * `<measurement>_<field>` (as Telegraf's Prometheus output and VictoriaMetrics name them),
 * tags are the line's tags, value a float64 (booleans 1/0; integers beyond 2^53 lose
 * precision), timestamp in ms (sub-ms kept as a fraction). String fields have no place in a
 * numeric record: they are dropped and counted (`stringFieldsDropped`). A bad line rejects
 * the whole request (one record per request), naming the line.
 */
import type { RecordEncoder } from '../records/record-encoder.ts';
import { isUtf8 } from 'node:buffer';
import { doubledCapacity } from '../records/grow-buffer.ts';
import { dedupeTagRanges, sameBytes } from '../records/tags.ts';

export class LineProtocolError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

export type Precision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

/** Parses a `precision` query value (v1 and v2 spellings); undefined when unknown. */
export function parsePrecision(p: string | null): Precision | undefined {
  switch (p) {
    case null:
    case '':
    case 'n':
    case 'ns':
      return 'ns';
    case 'u':
    case 'us':
    case 'µ':
    case 'µs':
      return 'us';
    case 'ms':
      return 'ms';
    case 's':
      return 's';
    case 'm':
      return 'm';
    case 'h':
      return 'h';
    default:
      return undefined;
  }
}

export interface LineStats {
  /** Entries written (numeric fields). */
  samples: number;
  lines: number;
  stringFieldsDropped: number;
}

const NL = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const COMMA = 44;
const EQ = 61;
const BACKSLASH = 92;
const QUOTE = 34;
const HASH = 35;
const UNDERSCORE = 95;

/**
 * Unescaped tokens of the line being parsed: the measurement, the tags, the field keys and
 * each entry's `<measurement>_<field>` name, so that one seriesFromBytes() call copies a
 * series into the record without a string per token. Per thread (module state is per
 * worker); what a big line grows is not kept (SCRATCH_KEEP, RANGES_KEEP, FIELDS_KEEP).
 */
let scratch = Buffer.allocUnsafe(4096);
const SCRATCH_KEEP = 1 << 20;
const RANGES_KEEP = 2 + 4 * 1024;
const FIELDS_KEEP = 1024;
/** seriesFromBytes' ranges: the name's, then the tags' key/value pairs. */
let ranges = new Int32Array(2 + 4 * 16);
/** The numeric fields of the line: key ranges in the scratch, and values. */
let fieldKeys = new Int32Array(2 * 16);
let fieldValues = new Float64Array(16);

/**
 * Parses a line protocol body into `enc`; `nowMs` is the timestamp of lines without one.
 * Throws LineProtocolError for the first bad line.
 *
 * Reads the UTF-8 bytes in place (what a worker receives): a token is copied once, into
 * the scratch, and from there into the record. Why: decoding the body to a string, a
 * slice per token, a name string per field and a UTF-8 encoding of each again were most
 * of the decoder's time (bench/decode-ab.ts --protocols influx). A body that is not valid
 * UTF-8 is read as its decoding with U+FFFD in place of the bad bytes (as the string
 * parser before it read them).
 */
export function parseLineProtocol(body: Uint8Array | string, precision: Precision, nowMs: number, enc: RecordEncoder): LineStats {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : isUtf8(body) ? asBuffer(body) : Buffer.from(asBuffer(body).toString('utf8'), 'utf8');
  try {
    return parse(b, precision, nowMs, enc);
  } finally {
    // What a long line or a hostile one grew is not kept (a worker holds these for good).
    if (scratch.length > SCRATCH_KEEP) scratch = Buffer.allocUnsafe(4096);
    if (ranges.length > RANGES_KEEP) ranges = new Int32Array(2 + 4 * 16);
    if (fieldValues.length > FIELDS_KEEP) {
      fieldKeys = new Int32Array(2 * 16);
      fieldValues = new Float64Array(16);
    }
  }
}

function parse(b: Buffer, precision: Precision, nowMs: number, enc: RecordEncoder): LineStats {
  const stats: LineStats = { samples: 0, lines: 0, stringFieldsDropped: 0 };
  const n = b.length;
  let i = 0;
  let line = 1;
  let s = scratch;
  /** Next free byte of the scratch (reset per line). */
  let sp = 0;
  /** The last token's place in the scratch. */
  let tokStart = 0;
  let tokEnd = 0;
  /**
   * The last line's tag section, for the next line to reuse when its section is the same
   * bytes (Telegraf and the client libraries write one tag set on many lines): its raw
   * bytes b[tagRawStart, tagRawEnd) (-1: nothing to reuse), where its tokens lie in the
   * scratch, and its tag count after deduplication; `ranges` still holds their ranges.
   */
  let tagRawStart = -1;
  let tagRawEnd = 0;
  let tagsStart = 0;
  let tagsEnd = 0;
  let tagsCount = 0;

  const fail = (msg: string): never => {
    throw new LineProtocolError(line, msg);
  };
  const text = (start: number, end: number): string => s.toString('utf8', start, end);
  const reserve = (len: number): void => {
    if (sp + len <= s.length) return;
    const grown = Buffer.allocUnsafe(doubledCapacity(s.length, sp + len));
    s.copy(grown, 0, 0, sp);
    s = grown;
    scratch = grown;
  };

  /**
   * Reads an escaped token up to an unescaped stop character into the scratch
   * (tokStart/tokEnd). A backslash before a character it does not escape is kept.
   */
  const token = (stopEq: boolean, what: string): void => {
    const start = i;
    let escapes = 0;
    while (i < n) {
      const c = b[i]!;
      if (c === BACKSLASH && i + 1 < n) {
        const d = b[i + 1]!;
        if (d === COMMA || d === SPACE || (stopEq && d === EQ)) {
          escapes++;
          i += 2;
          continue;
        }
        i++;
        continue;
      }
      if (c === COMMA || c === SPACE || c === NL || (stopEq && c === EQ)) break;
      if (c === CR && (i + 1 >= n || b[i + 1] === NL)) break;
      i++;
    }
    const len = i - start - escapes;
    if (len === 0) fail(`empty ${what}`);
    reserve(len);
    tokStart = sp;
    if (escapes === 0) for (let k = start; k < i; k++) s[sp++] = b[k]!;
    else {
      // The scan's rule again, left to right: every escaping pair lies inside the token.
      for (let k = start; k < i; k++) {
        const c = b[k]!;
        if (c === BACKSLASH && k + 1 < i) {
          const d = b[k + 1]!;
          if (d === COMMA || d === SPACE || (stopEq && d === EQ)) {
            s[sp++] = d;
            k++;
            continue;
          }
        }
        s[sp++] = c;
      }
    }
    tokEnd = sp;
  };

  while (i < n) {
    // Line start: leading whitespace, blank lines, comments.
    while (i < n && (b[i] === SPACE || b[i] === TAB)) i++;
    if (i >= n) break;
    let c = b[i]!;
    if (c === NL || c === CR) {
      if (c === NL) line++;
      i++;
      continue;
    }
    if (c === HASH) {
      while (i < n && b[i] !== NL) i++;
      continue;
    }
    stats.lines++;
    sp = 0;
    // The measurement: only `,` and ` ` end it (an `=` is part of the name).
    token(false, 'measurement');
    const mStart = tokStart;
    const mEnd = tokEnd;
    let tagCount = 0;
    // The last line's tag section again: the same bytes, then a space, read the same (that
    // space ended that line's tags, so no backslash before it escapes it), and that line's
    // were valid. Its tokens are intact when this measurement is no longer than that line's
    // (a scratch grown for this measurement copied nothing, but then it is longer).
    const rawEnd = i + tagRawEnd - tagRawStart;
    const reused = tagRawStart >= 0 && mEnd <= tagsStart && rawEnd < n && b[rawEnd] === SPACE && sameBytes(b, i, rawEnd, tagRawStart, tagRawEnd);
    if (reused) {
      i = rawEnd;
      sp = tagsEnd;
      tagCount = tagsCount;
    }
    const rawStart = i;
    const tokensStart = sp;
    while (i < n && b[i] === COMMA) {
      i++;
      token(true, 'tag key');
      const kStart = tokStart;
      const kEnd = tokEnd;
      if (b[i] !== EQ) fail(`tag "${text(kStart, kEnd)}" has no "=value"`);
      i++;
      token(true, 'tag value');
      if (ranges.length < 6 + 4 * tagCount) ranges = grownInt32(ranges, 6 + 4 * tagCount);
      const r = 2 + 4 * tagCount++;
      ranges[r] = kStart;
      ranges[r + 1] = kEnd;
      ranges[r + 2] = tokStart;
      ranges[r + 3] = tokEnd;
    }
    if (!reused) {
      tagCount = dedupeTagRanges(s, ranges, tagCount); // a repeated tag key: the last one wins, as in InfluxDB
      // This line's fields go after its tags: a line without tags writes over the last one's.
      tagRawStart = i > rawStart ? rawStart : -1;
      tagRawEnd = i;
      tagsStart = tokensStart;
      tagsEnd = sp;
      tagsCount = tagCount;
    }
    if (i >= n || b[i] !== SPACE) fail('missing fields (expected a space after the measurement and tags)');
    while (i < n && b[i] === SPACE) i++;
    // Fields.
    let fields = 0;
    for (;;) {
      token(true, 'field key');
      const kStart = tokStart;
      const kEnd = tokEnd;
      if (b[i] !== EQ) fail(`field "${text(kStart, kEnd)}" has no "=value"`);
      i++;
      if (i >= n) fail(`field "${text(kStart, kEnd)}" has no value`);
      c = b[i]!;
      if (c === QUOTE) {
        i++;
        let closed = false;
        while (i < n) {
          const d = b[i]!;
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
        if (!closed) fail(`string field "${text(kStart, kEnd)}" has no closing quote`);
        stats.stringFieldsDropped++;
      } else {
        const start = i;
        while (i < n) {
          const d = b[i]!;
          if (d === COMMA || d === SPACE || d === NL || d === CR) break;
          i++;
        }
        let v = simpleNumber(b, start, i);
        if (Number.isNaN(v)) v = fieldValue(b.toString('utf8', start, i), text(kStart, kEnd), fail);
        if (fieldValues.length === fields) {
          fieldKeys = grownInt32(fieldKeys, 4 * fields);
          const values = new Float64Array(2 * fields);
          values.set(fieldValues);
          fieldValues = values;
        }
        fieldKeys[2 * fields] = kStart;
        fieldKeys[2 * fields + 1] = kEnd;
        fieldValues[fields++] = v;
      }
      if (i < n && b[i] === COMMA) {
        i++;
        continue;
      }
      break;
    }
    // Optional timestamp.
    let ts = nowMs;
    while (i < n && b[i] === SPACE) i++;
    if (i < n && b[i] !== NL && b[i] !== CR) {
      const start = i;
      while (i < n) {
        const d = b[i]!;
        if (d === NL || d === CR || d === SPACE || d === TAB) break;
        i++;
      }
      ts = timestampFast(b, start, i, precision);
      if (Number.isNaN(ts)) ts = timestampMs(b.toString('utf8', start, i), precision, fail);
      while (i < n && (b[i] === SPACE || b[i] === TAB)) i++;
    }
    if (i < n && b[i] === CR) i++;
    if (i < n && b[i] !== NL) fail(`unexpected "${b.toString('utf8', i, Math.min(n, i + 80)).slice(0, 20)}" after the timestamp`);
    // One entry per numeric field, named <measurement>_<field>, built after the line's tokens.
    const mLength = mEnd - mStart;
    for (let f = 0; f < fields; f++) {
      const kStart = fieldKeys[2 * f]!;
      const kEnd = fieldKeys[2 * f + 1]!;
      reserve(mLength + 1 + kEnd - kStart);
      const nameStart = sp;
      let p = sp;
      for (let k = mStart; k < mEnd; k++) s[p++] = s[k]!;
      s[p++] = UNDERSCORE;
      for (let k = kStart; k < kEnd; k++) s[p++] = s[k]!;
      ranges[0] = nameStart;
      ranges[1] = p;
      enc.sample(enc.seriesFromBytes(s, ranges, tagCount), fieldValues[f]!, ts);
      stats.samples++;
    }
  }
  return stats;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function grownInt32(a: Int32Array<ArrayBuffer>, atLeast: number): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(doubledCapacity(a.length, atLeast));
  grown.set(a);
  return grown;
}

/** 10^k for the fraction digits simpleNumber reads (all exact in a double). */
const POW10 = Array.from({ length: 16 }, (_, k) => 10 ** k);

/**
 * The common field values, read in place: `[+-]digits[.digits]` and `[+-]digits(i|u)` with
 * at most 15 digits. NaN for anything else (exponents, booleans, long numbers, errors),
 * which fieldValue then reads, or refuses with its message. Exact: a mantissa of at most
 * 15 digits is an exact double and one division by an exact power of ten rounds
 * correctly, so the result is Number()'s, bit for bit (Clinger's fast path).
 */
function simpleNumber(b: Buffer, start: number, end: number): number {
  let k = start;
  const sign = b[k];
  const negative = sign === 45; /* - */
  if (negative || sign === 43 /* + */) k++;
  let mantissa = 0;
  let digits = 0;
  let fraction = -1; // digits after the point; -1: no point yet
  for (; k < end; k++) {
    const d = b[k]! - 48;
    if (d >= 0 && d <= 9) {
      mantissa = mantissa * 10 + d;
      digits++;
      if (fraction >= 0) fraction++;
    } else if (d === 46 - 48 && fraction < 0) fraction = 0;
    else break;
  }
  if (digits === 0 || digits > 15) return NaN;
  if (k === end) {
    const v = fraction > 0 ? mantissa / POW10[fraction]! : mantissa;
    return negative ? -v : v;
  }
  const suffix = b[k];
  if (k !== end - 1 || fraction >= 0 || (suffix !== 105 /* i */ && suffix !== 117) /* u */) return NaN;
  if (suffix === 117 && negative) return NaN; // fieldValue's message: a negative unsigned
  return negative ? -mantissa : mantissa;
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
function timestampFast(b: Buffer, start: number, end: number, precision: Precision): number {
  const cut = precision === 'ns' ? 6 : precision === 'us' ? 3 : precision === 'ms' ? 0 : -1;
  const digits = end - start;
  if (cut < 0 || digits === 0 || digits > 19 || digits - cut > 15) return NaN;
  const split = end - Math.min(cut, digits);
  let whole = 0;
  let frac = 0;
  for (let k = start; k < end; k++) {
    const d = b[k]! - 48;
    if (d < 0 || d > 9) return NaN;
    if (k < split) whole = whole * 10 + d;
    else frac = frac * 10 + d;
  }
  if (cut === 0) return whole;
  return frac === 0 ? whole : whole + frac / (precision === 'ns' ? 1e6 : 1e3);
}

/** A line's integer timestamp in `precision` as ms (the integer part exact). */
export function timestampMs(raw: string, precision: Precision, fail: (msg: string) => never): number {
  if (!TS_RE.test(raw)) fail(`invalid timestamp ${raw}`);
  const neg = raw.charCodeAt(0) === 45;
  const digits = neg ? raw.slice(1) : raw;
  let ms: number;
  switch (precision) {
    case 'ns':
    case 'us': {
      const cut = precision === 'ns' ? 6 : 3;
      const whole = digits.length > cut ? Number(digits.slice(0, -cut)) : 0;
      const frac = Number(digits.length > cut ? digits.slice(-cut) : digits);
      ms = frac === 0 ? whole : whole + frac / (precision === 'ns' ? 1e6 : 1e3);
      break;
    }
    case 'ms':
      ms = Number(digits);
      break;
    case 's':
      ms = Number(digits) * 1000;
      break;
    case 'm':
      ms = Number(digits) * 60_000;
      break;
    case 'h':
      ms = Number(digits) * 3_600_000;
      break;
  }
  return neg ? -ms : ms;
}
