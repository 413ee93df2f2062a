/**
 * One pass over the bytes of a seed JSON body (`POST /metrics`, application/json) that
 * checks the JSON grammar and the seed schema together without building a single object,
 * and optionally transcodes it on the way into the msgpack record msgpackr would have
 * written for `JSON.parse(body)` (src/records/msgpackr-writer.ts).
 *
 * Why: for a 100-metric body, JSON.parse alone took nearly the whole per-request CPU
 * budget of issue 15's goal; a schema-directed scanner touches each byte once, copies strings
 * without decoding them and converts numbers with Clinger's fast path.
 *
 * It answers only what it is sure of. It returns the metric count when the body is valid
 * and the reference path (JSON.parse + validateMetrics + msgpackr, in
 * src/workers/metrics-body.ts) would accept it and store exactly the same bytes; for
 * everything else it returns FALLBACK and the reference path decides, so every verdict
 * and error message stays what it was. That covers every invalid body (its message comes
 * from the reference) and a few valid but unusual ones whose stored form depends on
 * JavaScript object semantics: duplicate keys (JSON.parse keeps the last), a field name
 * written with escapes, empty or all-digit tag keys (V8 orders integer keys first), lone surrogate
 * escapes (msgpackr writes them as CESU bytes or U+FFFD depending on length), and a tags
 * object of 65,536 keys or more (msgpackr then re-packs the whole body with variable map
 * sizes). A refused body therefore costs at most this (linear) scan on top of what it
 * cost before: the scan stops at the first byte it cannot vouch for.
 *
 * The scanner never recurses and follows the schema's fixed depth (body, metrics array,
 * metric, tags), so nesting or width cannot cost more than the bytes.
 *
 * The caller strips a BOM and checks UTF-8 first (isUtf8): bytes >= 0x80 inside strings
 * are then copied as they are, and outside strings they are a syntax error (FALLBACK).
 */
import type { MsgpackrWriter } from '../records/msgpackr-writer.ts';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS } from '../workers/metrics-body.ts';

/** Returned when the reference path must decide. */
export const FALLBACK = -1;

/** Thrown inside the scanner to unwind to scanSeedJson; a constant, so no stack is captured. */
const BAIL = { bail: true };

// Field ids: bit positions in the per-metric "seen" mask.
const F_NAME = 1;
const F_VALUE = 2;
const F_TIMESTAMP = 4;
const F_TAGS = 8;
const F_TYPE = 16;
const F_UNIT = 32;
const F_HELP = 64;

/** Each field's key as a msgpack fixstr, copied as is into the record (indexed by field bit). */
const KEY_BYTES: Uint8Array[] = new Array<Uint8Array>(F_HELP + 1).fill(new Uint8Array(0));
for (const [bit, name] of [
  [F_NAME, 'name'],
  [F_VALUE, 'value'],
  [F_TIMESTAMP, 'timestamp'],
  [F_TAGS, 'tags'],
  [F_TYPE, 'type'],
  [F_UNIT, 'unit'],
  [F_HELP, 'help'],
] as const) {
  KEY_BYTES[bit] = Uint8Array.from([0xa0 | name.length, ...Buffer.from(name)]);
}

/** The accepted metric types, as bytes (compared with the raw string, which must have no escapes). */
const METRIC_TYPES = ['gauge', 'counter', 'histogram', 'summary', 'gaugehistogram', 'info', 'stateset', 'unknown'].map((t) => Buffer.from(t));

/** Exact powers of ten for Clinger's fast path (10^22 is the largest exact double). */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/** Most tag keys compared pairwise for duplicates; a larger tags object uses a Set. */
const PAIRWISE_KEYS = 16;

/**
 * Scans `body` (BOM stripped, valid UTF-8). Returns the number of metrics when the body is
 * valid and the reference path would store the same thing; with `out`, the msgpack record
 * is then in `out` (take it with out.finishMetrics(count)). Returns FALLBACK otherwise.
 * Never throws for any body.
 */
export function scanSeedJson(body: Buffer, out: MsgpackrWriter | undefined): number {
  scanner.b = body;
  scanner.n = body.length;
  scanner.i = 0;
  scanner.out = out;
  try {
    return scanner.body();
  } catch (e) {
    if (e === BAIL) return FALLBACK;
    throw e;
  } finally {
    scanner.b = EMPTY;
    scanner.out = undefined;
  }
}

const EMPTY = Buffer.alloc(0);

class Scanner {
  b: Buffer = EMPTY;
  n = 0;
  i = 0;
  out: MsgpackrWriter | undefined;
  /** Start/end offsets (in out.buf) of the current tags object's keys, for duplicates. */
  private keyRanges = new Int32Array(2 * PAIRWISE_KEYS);
  /** The current tags object's keys once it has more than PAIRWISE_KEYS of them. */
  private keySet = new Set<string>();
  /** String scan results: raw content [strStart, strEnd) and whether it has escapes. */
  private strStart = 0;
  private strEnd = 0;
  private strEscaped = false;

  /** Skips JSON whitespace (space, tab, LF, CR) and returns the next byte (-1 at the end). */
  private ws(): number {
    const b = this.b;
    let i = this.i;
    while (i < this.n) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        this.i = i;
        return c;
      }
      i++;
    }
    this.i = i;
    return -1;
  }

  private expect(c: number): void {
    // Compact JSON (what most clients send) has no whitespace: look at the byte first.
    const i = this.i;
    if (i < this.n && this.b[i] === c) {
      this.i = i + 1;
      return;
    }
    if (this.ws() !== c) throw BAIL;
    this.i++;
  }

  /** The next non-whitespace byte (-1 at the end), looking at the current one first. */
  private next(): number {
    const i = this.i;
    if (i < this.n) {
      const c = this.b[i]!;
      if (c > 0x20) return c;
    }
    return this.ws();
  }

  body(): number {
    const out = this.out;
    this.expect(0x7b); // {
    this.expect(0x22); // "metrics" spelt plainly; anything else is the reference's business
    if (!this.rawIs(METRICS)) throw BAIL;
    this.expect(0x3a); // :
    this.expect(0x5b); // [
    if (out !== undefined) out.reserve();
    let count = 0;
    if (this.ws() === 0x5d) throw BAIL; // empty: refused by the reference
    for (;;) {
      this.metric();
      count++;
      const c = this.next();
      this.i++;
      if (c === 0x2c) continue;
      if (c === 0x5d) break;
      throw BAIL;
    }
    this.expect(0x7d); // } : a second key is unknown or a duplicate "metrics"
    if (this.ws() !== -1) throw BAIL; // trailing bytes
    return count;
  }

  /** After an opening quote: true (and past the closing quote) when the raw key is `key`. */
  private rawIs(key: Uint8Array): boolean {
    const b = this.b;
    const i = this.i;
    const k = key.length;
    if (i + k >= this.n || b[i + k] !== 0x22) return false;
    for (let j = 0; j < k; j++) if (b[i + j] !== key[j]) return false;
    this.i = i + k + 1;
    return true;
  }

  /** After an opening quote: which known metric field this key is (0 for none). */
  private fieldKey(): number {
    const b = this.b;
    const i = this.i;
    const c = b[i];
    // The first byte and the length pick the candidate; rawIs confirms it.
    if (c === 0x6e) return this.rawIs(NAME) ? F_NAME : 0;
    if (c === 0x76) return this.rawIs(VALUE) ? F_VALUE : 0;
    if (c === 0x74) return this.rawIs(TIMESTAMP) ? F_TIMESTAMP : this.rawIs(TAGS) ? F_TAGS : this.rawIs(TYPE) ? F_TYPE : 0;
    if (c === 0x75) return this.rawIs(UNIT) ? F_UNIT : 0;
    if (c === 0x68) return this.rawIs(HELP) ? F_HELP : 0;
    return 0;
  }

  /** One element of "metrics": an object of known fields with name and value. */
  private metric(): void {
    const out = this.out;
    this.expect(0x7b); // {
    const mapAt = out === undefined ? 0 : out.map16();
    let seen = 0;
    let fields = 0;
    for (;;) {
      this.expect(0x22);
      const f = this.fieldKey();
      if (f === 0 || (seen & f) !== 0) throw BAIL; // unknown, escaped or duplicate key
      seen |= f;
      this.expect(0x3a);
      if (out !== undefined) out.raw(KEY_BYTES[f]!);
      const c = this.next();
      if (f === F_VALUE || f === F_TIMESTAMP) {
        this.number(c, f === F_TIMESTAMP);
      } else if (f === F_TAGS) {
        this.tags(c);
      } else {
        if (c !== 0x22) throw BAIL;
        this.i++;
        this.string();
        if (f === F_NAME && this.strEnd === this.strStart) throw BAIL;
        if (f === F_TYPE && (this.strEscaped || !this.isMetricType())) throw BAIL;
        if (out !== undefined) this.writeString();
      }
      fields++;
      const d = this.next();
      this.i++;
      if (d === 0x2c) continue;
      if (d === 0x7d) break;
      throw BAIL;
    }
    if ((seen & (F_NAME | F_VALUE)) !== (F_NAME | F_VALUE)) throw BAIL;
    if (out !== undefined) out.mapSize(mapAt, fields);
  }

  private isMetricType(): boolean {
    const b = this.b;
    const s = this.strStart;
    const len = this.strEnd - s;
    outer: for (const t of METRIC_TYPES) {
      if (t.length !== len) continue;
      for (let j = 0; j < len; j++) if (b[s + j] !== t[j]) continue outer;
      return true;
    }
    return false;
  }

  /** "tags": an object of string -> string; `c` is the byte at this.i. */
  private tags(c: number): void {
    if (c !== 0x7b) throw BAIL;
    this.i++;
    const out = this.out;
    const mapAt = out === undefined ? 0 : out.map16();
    let count = 0;
    if (this.ws() === 0x7d) {
      this.i++;
      if (out !== undefined) out.mapSize(mapAt, 0);
      return;
    }
    for (;;) {
      this.expect(0x22);
      this.string();
      if (out !== undefined) {
        this.writeString();
        this.checkTagKey(count);
      }
      this.expect(0x3a);
      this.expect(0x22); // values are strings, nothing else
      this.string();
      if (out !== undefined) this.writeString();
      count++;
      const d = this.next();
      this.i++;
      if (d === 0x2c) continue;
      if (d === 0x7d) break;
      throw BAIL;
    }
    if (out !== undefined) {
      if (count > 0xffff) throw BAIL; // msgpackr would re-pack the whole body with variable map sizes
      out.mapSize(mapAt, count);
      // Only when used: clear() allocates a new table even for an empty Set.
      if (count > PAIRWISE_KEYS) this.keySet.clear();
    }
  }

  /**
   * The tag key just written (its bytes at out.buf[out.strDataAt, out.pos)) must not be
   * all digits (V8 enumerates integer-like keys first, so msgpackr would reorder them)
   * nor repeat an earlier key of this object (JSON.parse keeps only the last).
   */
  private checkTagKey(index: number): void {
    const out = this.out!;
    const buf = out.buf;
    const end = out.pos;
    const start = out.strDataAt;
    let digits = true;
    for (let k = start; k < end; k++) {
      const d = buf[k]!;
      if (d < 0x30 || d > 0x39) {
        digits = false;
        break;
      }
    }
    if (digits) throw BAIL; // also the empty key: harmless, but rare enough to leave to the reference
    const len = end - start;
    if (index < PAIRWISE_KEYS) {
      const ranges = this.keyRanges;
      for (let j = 0; j < index; j++) {
        const s = ranges[2 * j]!;
        if (ranges[2 * j + 1]! - s !== len) continue;
        let same = true;
        for (let k = 0; k < len; k++) {
          if (buf[s + k] !== buf[start + k]) {
            same = false;
            break;
          }
        }
        if (same) throw BAIL;
      }
      ranges[2 * index] = start;
      ranges[2 * index + 1] = end;
      return;
    }
    const set = this.keySet;
    if (index === PAIRWISE_KEYS) {
      set.clear();
      // Offsets stay valid: the writer's buffer may move, but offsets within it do not.
      for (let j = 0; j < index; j++) set.add(buf.toString('latin1', this.keyRanges[2 * j]!, this.keyRanges[2 * j + 1]!));
    }
    const key = buf.toString('latin1', start, end);
    if (set.has(key)) throw BAIL;
    set.add(key);
  }

  /**
   * After an opening quote: finds the closing one, checking escapes and that no raw
   * control character appears. Leaves the raw content in strStart/strEnd.
   */
  private string(): void {
    const b = this.b;
    const n = this.n;
    let i = this.i;
    this.strStart = i;
    let escaped = false;
    while (i < n) {
      const c = b[i]!;
      if (c === 0x22) {
        this.strEnd = i;
        this.strEscaped = escaped;
        this.i = i + 1;
        return;
      }
      if (c === 0x5c) {
        escaped = true;
        const e = b[i + 1];
        if (e === 0x75) {
          // \uXXXX: four hex digits
          if (i + 5 >= n || hex(b[i + 2]!) < 0 || hex(b[i + 3]!) < 0 || hex(b[i + 4]!) < 0 || hex(b[i + 5]!) < 0) throw BAIL;
          i += 6;
          continue;
        }
        if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          i += 2;
          continue;
        }
        throw BAIL;
      }
      if (c < 0x20) throw BAIL;
      i++;
    }
    throw BAIL; // unterminated
  }

  /** Writes the string just scanned to out as a msgpack str, decoding escapes. */
  private writeString(): void {
    const out = this.out!;
    const b = this.b;
    const s = this.strStart;
    const e = this.strEnd;
    if (!this.strEscaped) {
      out.strBytes(b, s, e);
      return;
    }
    // Decoded UTF-8 is never longer than the escaped text (\uXXXX is 6 bytes for at most 3,
    // a surrogate pair 12 for 4).
    const dataAt = out.beginStr(e - s);
    const buf = out.buf;
    let p = dataAt;
    let i = s;
    while (i < e) {
      const c = b[i]!;
      if (c !== 0x5c) {
        buf[p++] = c;
        i++;
        continue;
      }
      const x = b[i + 1]!;
      i += 2;
      if (x === 0x75) {
        let cp = hex4(b, i);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdfff) {
          // Only a high surrogate followed by an escaped low one is a character.
          if (cp >= 0xdc00 || b[i] !== 0x5c || b[i + 1] !== 0x75) throw BAIL;
          const lo = hex4(b, i + 2);
          if (lo < 0xdc00 || lo > 0xdfff) throw BAIL;
          i += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          buf[p++] = 0xf0 | (cp >> 18);
          buf[p++] = 0x80 | ((cp >> 12) & 0x3f);
          buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
          buf[p++] = 0x80 | (cp & 0x3f);
        } else if (cp < 0x80) buf[p++] = cp;
        else if (cp < 0x800) {
          buf[p++] = 0xc0 | (cp >> 6);
          buf[p++] = 0x80 | (cp & 0x3f);
        } else {
          buf[p++] = 0xe0 | (cp >> 12);
          buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
          buf[p++] = 0x80 | (cp & 0x3f);
        }
      } else {
        buf[p++] = x === 0x62 ? 0x08 : x === 0x66 ? 0x0c : x === 0x6e ? 0x0a : x === 0x72 ? 0x0d : x === 0x74 ? 0x09 : x; // \" \\ \/ stand for themselves
      }
    }
    out.endStr(dataAt, p);
  }

  /**
   * A value or timestamp field: the JSON number starting with byte `c` at this.i, as the
   * double JSON.parse gives (Clinger's fast path: at most 15 significant digits and a
   * power of ten up to 22 are both exact, so one multiplication or division rounds
   * correctly; else Number() of the text, JSON's number grammar being a subset of
   * JavaScript's), checked and written to the output.
   *
   * Checked and written here so that the double never leaves this function: returned
   * from a call V8 does not inline, a double is boxed, a heap number per timestamp (13 % of
   * what a worker allocated at 100 metrics per request; decoding 100,000 such bodies took
   * 83 scavenges before, none now).
   */
  private number(c: number, timestamp: boolean): void {
    const b = this.b;
    const n = this.n;
    const start = this.i;
    let i = start;
    let neg = false;
    if (c === 0x2d) {
      neg = true;
      c = i + 1 < n ? b[++i]! : -1;
    }
    let mant = 0;
    let digits = 0;
    if (c === 0x30) {
      i++;
      const d = i < n ? b[i]! : -1;
      if (d >= 0x30 && d <= 0x39) throw BAIL; // leading zero
    } else if (c >= 0x31 && c <= 0x39) {
      while (i < n) {
        const d = b[i]! - 0x30;
        if (d < 0 || d > 9) break;
        mant = mant * 10 + d;
        digits++;
        i++;
      }
    } else throw BAIL;
    let exp = 0;
    if (i < n && b[i] === 0x2e) {
      i++;
      const from = i;
      while (i < n) {
        const d = b[i]! - 0x30;
        if (d < 0 || d > 9) break;
        mant = mant * 10 + d;
        digits++;
        i++;
      }
      if (i === from) throw BAIL; // "1." has no fraction digits
      exp = from - i;
    }
    if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
      i++;
      let eneg = false;
      if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) eneg = b[i++] === 0x2d;
      const from = i;
      let e = 0;
      while (i < n) {
        const d = b[i]! - 0x30;
        if (d < 0 || d > 9) break;
        if (e < 100_000) e = e * 10 + d; // beyond that the result is 0 or Infinity anyway: Number() decides
        i++;
      }
      if (i === from) throw BAIL;
      exp += eneg ? -e : e;
    }
    this.i = i;
    let v: number;
    if (digits <= 15 && exp >= -22 && exp <= 22) v = exp >= 0 ? mant * POW10[exp]! : mant / POW10[-exp]!;
    else v = Number(b.toString('latin1', neg ? start + 1 : start, i));
    if (neg) v = -v;
    if (!Number.isFinite(v)) throw BAIL;
    if (timestamp && !(v >= MIN_TIMESTAMP_MS && v < MAX_TIMESTAMP_MS)) throw BAIL;
    if (this.out !== undefined) this.out.number(v);
  }
}

const te = (s: string) => Buffer.from(s);
const METRICS = te('metrics');
const NAME = te('name');
const VALUE = te('value');
const TIMESTAMP = te('timestamp');
const TAGS = te('tags');
const TYPE = te('type');
const UNIT = te('unit');
const HELP = te('help');

/** Value of a hex digit, or -1. */
function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** The four hex digits at b[i] (already checked by string()). */
function hex4(b: Uint8Array, i: number): number {
  return (hex(b[i]!) << 12) | (hex(b[i + 1]!) << 8) | (hex(b[i + 2]!) << 4) | hex(b[i + 3]!);
}

const scanner = new Scanner();
