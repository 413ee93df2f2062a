import { isUtf8 } from 'node:buffer';
// msgpackr's plain entry points (its browser build, the same pack.js and unpack.js): the
// package's Node entry also loads its stream classes and the msgpackr-extract addon (with
// child_process and dgram to find it), 0.8 MB of heap per worker, for string decoding
// that measured no faster on metric bodies (issue 15, memory).
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { ContentType } from '../sink/sink.ts';
import { checkPlainMsgpack, NotPlainMsgpack } from '../records/plain-msgpack.ts';
import { MsgpackrWriter } from '../records/msgpackr-writer.ts';
import { FALLBACK, scanSeedJson } from '../protocols/seed-json-scan.ts';

/**
 * Turns a POST /metrics body into the value bytes a record stores, or says exactly what
 * is wrong with it. Accepted shape (JSON or plain MessagePack):
 *
 *   {"metrics":[{"name":"cpu","value":75,"timestamp":1700000000000,"tags":{"host":"a"}}]}
 *
 * Rules (the README's "Bad input" section says the same):
 * - `name` a non-empty string, `value` a finite number: required.
 * - `timestamp` optional, milliseconds since the epoch, from 1e11 (March 1973) to 1e14
 *   (year 5138): a value below is refused as "looks like seconds" (Telegraf's and
 *   collectd's default unit), above as "looks like micro/nanoseconds". Never guessed.
 * - `tags` optional, an object of string -> string. `type` (gauge|counter|histogram|
 *   summary|gaugehistogram|info|stateset|unknown), `unit`, `help` optional strings.
 * - Any other field, at the top or in a metric, is refused with 400 naming it: what is
 *   stored is exactly what was validated, and a typo is not silently lost.
 * - JSON must be valid UTF-8 (400 naming the byte offset otherwise); a leading UTF-8 BOM
 *   is accepted and skipped (RFC 8259 §8.1 allows ignoring it), and not stored.
 * - msgpack must be plain MessagePack (plain-msgpack.ts): no ext types, string keys,
 *   valid UTF-8, nesting at most MAX_DEPTH.
 */

/** Plain msgpack maps, no msgpackr record extension: any decoder reads what we store. */
const packr = new Packr({ useRecords: false });
/**
 * msgpackr writes every map with a 16-bit size by default (fast, and the bytes every
 * existing record has), and throws for an object of 65,536 keys or more: such a body is
 * packed again with sizes chosen per map (map32 where needed).
 */
const widePackr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Deepest msgpack nesting accepted; the valid shape needs 4 (body, metrics, metric, tags). */
export const MAX_DEPTH = 16;
/** Timestamps (ms) outside [MIN, MAX) are refused: seconds or micro/nanoseconds sent as ms. */
export const MIN_TIMESTAMP_MS = 1e11;
export const MAX_TIMESTAMP_MS = 1e14;
const METRIC_TYPES = new Set(['gauge', 'counter', 'histogram', 'summary', 'gaugehistogram', 'info', 'stateset', 'unknown']);
const METRIC_FIELDS = new Set(['name', 'value', 'timestamp', 'tags', 'type', 'unit', 'help']);

export type BodyFormat = 'json' | 'msgpack';

export interface ParsedBody {
  count: number;
  /**
   * The stored value: the body itself, or (a JSON body stored as msgpack by the scanner)
   * a view of this thread's writer, stale after the next parseMetricsBody call.
   */
  value: Uint8Array;
  contentType: ContentType;
}

export class BadRequest extends Error {}

/** Maps a Content-Type header to the body format, or undefined when unsupported. */
export function bodyFormat(contentType: string | undefined): BodyFormat | undefined {
  if (contentType === undefined) return undefined;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === 'application/json') return 'json';
  if (type === 'application/msgpack' || type === 'application/x-msgpack' || type === 'application/vnd.msgpack') {
    return 'msgpack';
  }
  return undefined;
}

/** The one per-thread writer the JSON transcoder reuses (its buffer grows to the largest record). */
const writer = new MsgpackrWriter();

/**
 * Decodes and validates `body`. The stored value is msgpack, unless `store` is 'json':
 * then a JSON body is stored as sent (minus a BOM, no re-encoding). A valid msgpack body
 * is always stored as sent. Throws BadRequest naming the offending field or byte, and
 * nothing else.
 *
 * A JSON body goes through the one-pass scanner (src/protocols/seed-json-scan.ts), which
 * validates the bytes and, for msgpack, transcodes them without building objects; only
 * when it cannot vouch for a body (every invalid one, a few unusual valid ones) does the
 * reference path below decide, so verdicts and messages are the reference's.
 */
export function parseMetricsBody(body: Buffer, format: BodyFormat, store: BodyFormat): ParsedBody {
  if (format === 'json') {
    if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
    if (!isUtf8(body)) throw new BadRequest(`body is not valid UTF-8: invalid byte sequence at byte ${firstInvalidUtf8(body)}`);
    const out = store === 'json' ? undefined : writer;
    const count = scanSeedJson(body, out);
    if (count !== FALLBACK) {
      if (out === undefined) return { count, value: body, contentType: ContentType.json };
      return { count, value: out.finishMetrics(count), contentType: ContentType.msgpack };
    }
    out?.trim();
  }
  return parseMetricsBodyReference(body, format, store);
}

/**
 * The reference path: JSON.parse (or msgpackr's unpack), validateMetrics on the objects,
 * and msgpackr's pack for a JSON body stored as msgpack. It decides every body the
 * scanner hands back, and is the oracle of the scanner's conformance test. `body` is a
 * JSON body already stripped of its BOM and checked for UTF-8, or a msgpack body.
 */
export function parseMetricsBodyReference(body: Buffer, format: BodyFormat, store: BodyFormat): ParsedBody {
  let decoded: unknown;
  if (format === 'json') {
    try {
      decoded = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new BadRequest(`body is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    try {
      checkPlainMsgpack(body, MAX_DEPTH);
      decoded = unpackr.unpack(body);
    } catch (e) {
      throw new BadRequest(e instanceof NotPlainMsgpack ? `body is not plain msgpack: ${e.message}` : `body is not valid msgpack: ${(e as Error).message}`);
    }
  }
  const count = validateMetrics(decoded);
  if (format === 'msgpack') return { count, value: body, contentType: ContentType.msgpack };
  if (store === 'json') return { count, value: body, contentType: ContentType.json };
  try {
    let value: Uint8Array;
    try {
      value = packr.pack(decoded);
    } catch {
      value = widePackr.pack(decoded);
    }
    return { count, value, contentType: ContentType.msgpack };
  } catch (e) {
    throw new BadRequest(`body could not be stored as msgpack: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** JSON-ish quoting of a field name for a message, cut short so an error stays small. */
function fieldName(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}...` : name);
}

/** Returns the number of metrics, or throws BadRequest naming the first bad field. */
export function validateMetrics(body: unknown): number {
  if (!isObject(body)) throw new BadRequest('body must be an object like {"metrics":[...]}');
  const metrics = body.metrics;
  if (!Array.isArray(metrics)) throw new BadRequest('field "metrics" must be an array');
  for (const k in body) {
    if (k !== 'metrics') throw new BadRequest(`unknown field ${fieldName(k)}: the body has only "metrics"`);
  }
  if (metrics.length === 0) throw new BadRequest('field "metrics" must not be empty');
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i];
    if (!isObject(m)) throw new BadRequest(`metrics[${i}] must be an object`);
    for (const k in m) {
      if (!METRIC_FIELDS.has(k)) throw new BadRequest(`metrics[${i}] has unknown field ${fieldName(k)} (known: ${[...METRIC_FIELDS].join(', ')})`);
    }
    if (typeof m.name !== 'string' || m.name.length === 0) {
      throw new BadRequest(`metrics[${i}].name must be a non-empty string`);
    }
    if (typeof m.value !== 'number' || !Number.isFinite(m.value)) {
      throw new BadRequest(`metrics[${i}].value must be a finite number`);
    }
    if (m.timestamp !== undefined) {
      const t = m.timestamp;
      if (typeof t !== 'number' || !Number.isFinite(t)) throw new BadRequest(`metrics[${i}].timestamp must be a number (ms since the epoch)`);
      if (t < MIN_TIMESTAMP_MS) throw new BadRequest(`metrics[${i}].timestamp ${t} looks like seconds: send milliseconds since the epoch`);
      if (t >= MAX_TIMESTAMP_MS) throw new BadRequest(`metrics[${i}].timestamp ${t} looks like micro- or nanoseconds: send milliseconds since the epoch`);
    }
    if (m.tags !== undefined) {
      if (!isObject(m.tags)) throw new BadRequest(`metrics[${i}].tags must be an object of strings`);
      for (const k in m.tags) {
        if (typeof m.tags[k] !== 'string') throw new BadRequest(`metrics[${i}].tags.${k.length > 64 ? `${k.slice(0, 64)}...` : k} must be a string`);
      }
    }
    if (m.type !== undefined && (typeof m.type !== 'string' || !METRIC_TYPES.has(m.type))) {
      throw new BadRequest(`metrics[${i}].type must be one of ${[...METRIC_TYPES].join(', ')}`);
    }
    if (m.unit !== undefined && typeof m.unit !== 'string') throw new BadRequest(`metrics[${i}].unit must be a string`);
    if (m.help !== undefined && typeof m.help !== 'string') throw new BadRequest(`metrics[${i}].help must be a string`);
  }
  return metrics.length;
}

/** Byte offset of the first invalid UTF-8 sequence in `buf` (only called when there is one). */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    let n: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else return i;
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return buf.length;
}
