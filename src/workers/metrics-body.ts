import { Packr, Unpackr } from 'msgpackr';
import { ContentType } from '../sink/sink.ts';

/**
 * Turns a POST /metrics body into the value bytes a record stores, or says exactly what
 * is wrong with it. Accepted shape (JSON or msgpack):
 *
 *   {"metrics":[{"name":"cpu","value":75,"timestamp":1700000000000,"tags":{"host":"a"}}]}
 *
 * `timestamp` (ms) and `tags` (string -> string) are optional.
 */

/** Plain msgpack maps, no msgpackr record extension: any decoder reads what we store. */
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export type BodyFormat = 'json' | 'msgpack';

export interface ParsedBody {
  count: number;
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

/**
 * Decodes and validates `body`. The stored value is msgpack, unless `store` is 'json':
 * then a JSON body is stored as sent (no re-encoding at all). A valid msgpack body is
 * always stored as sent. Throws BadRequest naming the offending field.
 */
export function parseMetricsBody(body: Buffer, format: BodyFormat, store: BodyFormat): ParsedBody {
  let decoded: unknown;
  if (format === 'json') {
    try {
      decoded = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new BadRequest(`body is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    try {
      decoded = unpackr.unpack(body);
    } catch (e) {
      throw new BadRequest(`body is not valid msgpack: ${(e as Error).message}`);
    }
  }
  const count = validateMetrics(decoded);
  if (format === 'msgpack') return { count, value: body, contentType: ContentType.msgpack };
  if (store === 'json') return { count, value: body, contentType: ContentType.json };
  return { count, value: packr.pack(decoded), contentType: ContentType.msgpack };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns the number of metrics, or throws BadRequest naming the first bad field. */
export function validateMetrics(body: unknown): number {
  if (!isObject(body)) throw new BadRequest('body must be an object like {"metrics":[...]}');
  const metrics = body.metrics;
  if (!Array.isArray(metrics)) throw new BadRequest('field "metrics" must be an array');
  if (metrics.length === 0) throw new BadRequest('field "metrics" must not be empty');
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i];
    if (!isObject(m)) throw new BadRequest(`metrics[${i}] must be an object`);
    if (typeof m.name !== 'string' || m.name.length === 0) {
      throw new BadRequest(`metrics[${i}].name must be a non-empty string`);
    }
    if (typeof m.value !== 'number' || !Number.isFinite(m.value)) {
      throw new BadRequest(`metrics[${i}].value must be a finite number`);
    }
    if (m.timestamp !== undefined && (typeof m.timestamp !== 'number' || !Number.isFinite(m.timestamp))) {
      throw new BadRequest(`metrics[${i}].timestamp must be a number (ms since the epoch)`);
    }
    if (m.tags !== undefined) {
      if (!isObject(m.tags)) throw new BadRequest(`metrics[${i}].tags must be an object of strings`);
      for (const k in m.tags) {
        if (typeof m.tags[k] !== 'string') throw new BadRequest(`metrics[${i}].tags.${k} must be a string`);
      }
    }
  }
  return metrics.length;
}
