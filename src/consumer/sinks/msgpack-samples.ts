/**
 * The record format in plain MessagePack (what the gateway stores by default), read
 * straight into a SampleBatch: no object per entry, no tags object, no intermediate
 * decode of the whole value. Strings are decoded only where they are needed (name, tag
 * keys and values to find the series, type/unit/help), numbers read in place.
 *
 * It reads the shape the gateway writes and nothing more: `{"metrics":[{...}, ...]}` with
 * each entry's fields in any order, unknown fields skipped. Anything else — not a map, no
 * metrics array, an extension type, invalid UTF-8, a tag given twice, tags that are not a
 * map of scalars, nesting deeper than the plain-msgpack check allows, trailing bytes —
 * returns false with nothing added, and the caller decodes the record the general way
 * (checkPlainMsgpack + msgpackr), which gives the same samples or the reason the record is
 * not the record format. What an entry yields is what extractSamples would make of the
 * msgpackr-decoded object.
 */
import { isUtf8 } from 'node:buffer';
import type { SampleBatch, SeriesTable, SkipReason } from './samples.ts';

/** Deepest nesting skipped inside an entry (as decode.ts allows for a whole value). */
const MAX_DEPTH = 64;

class NotFast extends Error {}
const NOT_FAST = new NotFast();

let buf: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;
// Tag pairs of the entry being read (reused).
const tagKeys: string[] = [];
const tagValues: string[] = [];

function need(n: number): void {
  if (pos + n > end) throw NOT_FAST;
}

/**
 * Short ASCII strings seen so far, by a hash of their bytes: metric names, tag keys and
 * values repeat from record to record, and handing out the same string again costs no
 * allocation and keeps its hash for the series lookups. One string per hash (a collision
 * replaces it; the bytes are compared before a hit is used); cleared when it gets large.
 */
const strings = new Map<number, string>();
const MAX_CACHED_LENGTH = 64;
const MAX_CACHED = 50_000;

/** Whether `s` (ASCII) is exactly the `n` bytes at `from`. */
function sameAscii(s: string, from: number, n: number): boolean {
  if (s.length !== n) return false;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) !== buf[from + i]) return false;
  return true;
}

/** A string of `n` bytes at pos (short ASCII ones from the cache; otherwise checked UTF-8). */
function strBody(n: number): string {
  need(n);
  const from = pos;
  pos += n;
  let ascii = true;
  let h = 0x811c9dc5 ^ n;
  for (let i = from; i < pos; i++) {
    const b = buf[i];
    if (b >= 0x80) {
      ascii = false;
      break;
    }
    h = Math.imul(h ^ b, 0x01000193);
  }
  if (!ascii) {
    if (!isUtf8(buf.subarray(from, pos))) throw NOT_FAST;
    return buf.toString('utf8', from, pos);
  }
  if (n > MAX_CACHED_LENGTH) return buf.toString('latin1', from, pos);
  h &= 0x3fffffff; // a small integer key
  const hit = strings.get(h);
  if (hit !== undefined && sameAscii(hit, from, n)) return hit;
  const str = buf.toString('latin1', from, pos);
  if (strings.size >= MAX_CACHED) strings.clear();
  strings.set(h, str);
  return str;
}

/** The length of a string at pos (its header read), or -1 if the next value is not a string. */
function strLength(): number {
  need(1);
  const b = buf[pos];
  if (b >= 0xa0 && b <= 0xbf) {
    pos++;
    return b & 0x1f;
  }
  if (b === 0xd9) {
    need(2);
    pos += 2;
    return buf[pos - 1];
  }
  if (b === 0xda) {
    need(3);
    pos += 3;
    return buf.readUInt16BE(pos - 2);
  }
  if (b === 0xdb) {
    need(5);
    pos += 5;
    return buf.readUInt32BE(pos - 4);
  }
  return -1;
}

/** The entry count of a map at pos (header read), or -1 if not a map. */
function mapLength(): number {
  return containerLength(0x80, 0xde, 0xdf);
}

/** The element count of an array at pos (header read), or -1 if not an array. */
function arrayLength(): number {
  return containerLength(0x90, 0xdc, 0xdd);
}

/**
 * The count in a map or array header at pos (read), or -1 if it is not one: `fix` the
 * fixmap/fixarray base (count in the low 4 bits), `code16`/`code32` the longer forms.
 */
function containerLength(fix: number, code16: number, code32: number): number {
  need(1);
  const b = buf[pos];
  if (b >= fix && b <= fix + 0x0f) {
    pos++;
    return b & 0x0f;
  }
  if (b === code16) {
    need(3);
    pos += 3;
    return buf.readUInt16BE(pos - 2);
  }
  if (b === code32) {
    need(5);
    pos += 5;
    return buf.readUInt32BE(pos - 4);
  }
  return -1;
}

/** A number at pos (ints of every width, floats), or undefined (pos unchanged) if it is not one. */
function number(): number | undefined {
  need(1);
  const b = buf[pos];
  if (b <= 0x7f) {
    pos++;
    return b;
  }
  if (b >= 0xe0) {
    pos++;
    return b - 256;
  }
  switch (b) {
    case 0xcb:
      need(9);
      pos += 9;
      return buf.readDoubleBE(pos - 8);
    case 0xca:
      need(5);
      pos += 5;
      return buf.readFloatBE(pos - 4);
    case 0xcc:
      need(2);
      pos += 2;
      return buf[pos - 1];
    case 0xcd:
      need(3);
      pos += 3;
      return buf.readUInt16BE(pos - 2);
    case 0xce:
      need(5);
      pos += 5;
      return buf.readUInt32BE(pos - 4);
    case 0xcf:
      need(9);
      pos += 9;
      return buf.readUInt32BE(pos - 8) * 4294967296 + buf.readUInt32BE(pos - 4);
    case 0xd0:
      need(2);
      pos += 2;
      return buf.readInt8(pos - 1);
    case 0xd1:
      need(3);
      pos += 3;
      return buf.readInt16BE(pos - 2);
    case 0xd2:
      need(5);
      pos += 5;
      return buf.readInt32BE(pos - 4);
    case 0xd3:
      need(9);
      pos += 9;
      return buf.readInt32BE(pos - 8) * 4294967296 + buf.readUInt32BE(pos - 4);
  }
  return undefined;
}

/** Skips one value of the plain subset (no extension types), at most `depth` levels deep. */
function skip(depth: number): void {
  if (depth > MAX_DEPTH) throw NOT_FAST;
  need(1);
  const b = buf[pos];
  if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
    pos++;
    return;
  }
  const s = strLength();
  if (s >= 0) {
    strBody(s);
    return;
  }
  const m = mapLength();
  if (m >= 0) {
    for (let i = 0; i < m; i++) {
      const k = strLength();
      if (k < 0) throw NOT_FAST; // non-string keys: not plain msgpack for the gateway
      strBody(k);
      skip(depth + 1);
    }
    return;
  }
  const a = arrayLength();
  if (a >= 0) {
    for (let i = 0; i < a; i++) skip(depth + 1);
    return;
  }
  if (number() !== undefined) return;
  if (b === 0xc4 || b === 0xc5 || b === 0xc6) {
    const h = b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4;
    need(1 + h);
    const n = h === 1 ? buf[pos + 1] : h === 2 ? buf.readUInt16BE(pos + 1) : buf.readUInt32BE(pos + 1);
    pos += 1 + h;
    need(n);
    pos += n;
    return;
  }
  throw NOT_FAST; // extension types, 0xc1
}

const F_OTHER = 0;
const F_NAME = 1;
const F_VALUE = 2;
const F_TIMESTAMP = 3;
const F_TAGS = 4;
const F_HISTOGRAM = 5;
const F_TYPE = 6;
const F_UNIT = 7;
const F_HELP = 8;
const FIELDS: [number, Buffer][] = [
  [F_NAME, Buffer.from('name')],
  [F_VALUE, Buffer.from('value')],
  [F_TIMESTAMP, Buffer.from('timestamp')],
  [F_TAGS, Buffer.from('tags')],
  [F_HISTOGRAM, Buffer.from('histogram')],
  [F_TYPE, Buffer.from('type')],
  [F_UNIT, Buffer.from('unit')],
  [F_HELP, Buffer.from('help')],
];

/** Which entry field the string at pos names (read by its bytes, no string made); throws NotFast if the key is not a string. */
function fieldId(): number {
  const n = strLength();
  if (n < 0) throw NOT_FAST;
  need(n);
  const from = pos;
  let id = F_OTHER;
  for (const [fid, bytes] of FIELDS) {
    if (bytes.length !== n || bytes[0] !== buf[from]) continue;
    let same = true;
    for (let i = 1; i < n; i++) {
      if (bytes[i] !== buf[from + i]) {
        same = false;
        break;
      }
    }
    if (same) {
      id = fid;
      break;
    }
  }
  if (id === F_OTHER) strBody(n); // checks its UTF-8
  else pos += n;
  return id;
}

/** A value of the record format's number fields: a number, or the JSON spellings of NaN/±Inf; null otherwise (skipped). */
function numeric(): number | null {
  const n = number();
  if (n !== undefined) return n;
  const s = strLength();
  if (s >= 0) {
    const text = strBody(s);
    if (text === 'NaN') return NaN;
    if (text === '+Inf' || text === 'Inf') return Infinity;
    if (text === '-Inf') return -Infinity;
    return null;
  }
  skip(1);
  return null;
}

/** An optional metadata string: a non-empty string, else undefined (the value skipped). */
function optString(): string | undefined {
  const s = strLength();
  if (s < 0) {
    skip(1);
    return undefined;
  }
  const text = strBody(s);
  return text === '' ? undefined : text;
}

/**
 * Reads the tags map at pos into tagKeys/tagValues (nil tags: none); returns their count.
 * Values as extractSamples labels them (strings as is, numbers and booleans as text; nil
 * left out). Anything else throws NotFast.
 */
function readTags(): number {
  if (buf[pos] === 0xc0) {
    pos++;
    return 0;
  }
  const m = mapLength();
  if (m < 0) throw NOT_FAST;
  let n = 0;
  for (let i = 0; i < m; i++) {
    const kl = strLength();
    if (kl < 0) throw NOT_FAST;
    const k = strBody(kl);
    need(1);
    const b = buf[pos];
    let v: string;
    if (b === 0xc0) {
      pos++;
      for (let j = 0; j < n; j++) if (tagKeys[j] === k) throw NOT_FAST;
      continue; // nil: no label (but a key given twice is left to the general path)
    } else if (b === 0xcf || b === 0xd3) {
      throw NOT_FAST; // a 64-bit integer: its text from a BigInt may differ from a float's
    } else if (b === 0xc2 || b === 0xc3) {
      pos++;
      v = b === 0xc3 ? 'true' : 'false';
    } else {
      const sl = strLength();
      if (sl >= 0) v = strBody(sl);
      else {
        const num = number();
        if (num === undefined) throw NOT_FAST;
        v = String(num);
      }
    }
    for (let j = 0; j < n; j++) if (tagKeys[j] === k) throw NOT_FAST;
    tagKeys[n] = k;
    tagValues[n] = v;
    n++;
  }
  return n;
}

/**
 * Adds the samples of record `record` (msgpack `bytes`, record timestamp `timestamp`) to
 * `samples` and its skipped entries to `skipped`; false (nothing added) when the bytes are
 * not the plain record format this reader handles: decode the record the general way.
 */
export function readMsgpackRecord(
  bytes: Uint8Array,
  timestamp: number,
  record: number,
  table: SeriesTable,
  samples: SampleBatch,
  skipped: Map<SkipReason, number>,
): boolean {
  buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = 0;
  end = buf.length;
  const before = samples.length;
  let histograms = 0;
  let invalid = 0;
  try {
    const top = mapLength();
    if (top < 0) return false;
    let seen = false;
    for (let i = 0; i < top; i++) {
      const kl = strLength();
      if (kl < 0) return false;
      const key = strBody(kl);
      if (key !== 'metrics') {
        skip(1);
        continue;
      }
      if (seen) throw NOT_FAST; // "metrics" twice: the last wins in an object; rare, general path
      seen = true;
      const count = arrayLength();
      if (count < 0) throw NOT_FAST;
      for (let e = 0; e < count; e++) {
        const fields = mapLength();
        if (fields < 0) {
          skip(2);
          invalid++;
          continue;
        }
        let name: string | undefined;
        let badName = false;
        let value: number | null = null;
        let hasValue = false;
        let ts: number | null = timestamp;
        let histogram = false;
        let tagsAt = -1;
        let type: string | undefined;
        let unit: string | undefined;
        let help: string | undefined;
        for (let f = 0; f < fields; f++) {
          switch (fieldId()) {
            case F_NAME: {
              const nl = strLength();
              if (nl >= 0) {
                name = strBody(nl);
                badName = false;
              } else {
                skip(2);
                name = undefined;
                badName = true;
              }
              break;
            }
            case F_VALUE:
              value = numeric();
              hasValue = true;
              break;
            case F_TIMESTAMP:
              need(1);
              if (buf[pos] === 0xc0) {
                pos++;
                ts = timestamp;
              } else ts = numeric();
              break;
            case F_TAGS:
              if (tagsAt >= 0) throw NOT_FAST;
              tagsAt = pos;
              skip(2);
              break;
            case F_HISTOGRAM:
              need(1);
              if (buf[pos] === 0xc0) {
                pos++;
                histogram = false; // the last of a field given twice wins, as in an object
              } else {
                histogram = true;
                skip(2);
              }
              break;
            case F_TYPE:
              type = optString();
              break;
            case F_UNIT:
              unit = optString();
              break;
            case F_HELP:
              help = optString();
              break;
            default:
              skip(2);
          }
        }
        if (histogram) {
          histograms++;
          continue;
        }
        if (badName || name === undefined || name === '' || !hasValue || value === null || ts === null || !Number.isFinite(ts)) {
          invalid++;
          continue;
        }
        let node = table.start(name);
        let n = 0;
        if (tagsAt >= 0) {
          const resume = pos;
          pos = tagsAt;
          n = readTags();
          pos = resume;
          for (let t = 0; t < n; t++) node = table.step(node, tagKeys[t], tagValues[t]);
        }
        const series = table.finish(node, name, tagKeys, tagValues, n);
        samples.push(series, table.metadata(series, type, unit, help), value, ts, record);
      }
    }
    if (pos !== end || !seen) throw NOT_FAST;
  } catch (err) {
    if (err !== NOT_FAST) throw err;
    samples.truncate(before);
    return false;
  }
  if (histograms > 0) skipped.set('native_histogram', (skipped.get('native_histogram') ?? 0) + histograms);
  if (invalid > 0) skipped.set('invalid_entry', (skipped.get('invalid_entry') ?? 0) + invalid);
  return true;
}
