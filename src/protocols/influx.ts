/**
 * InfluxDB line protocol: `POST /write` (1.x: `?db=&precision=&u=&p=`) and
 * `POST /api/v2/write` (2.x: `?org=&bucket=&precision=`). One record per request; 204
 * with an empty body once durable. Errors: 2.x shape `{"code":"invalid","message":"..."}`
 * on /api/v2/write, 1.x shape `{"error":"..."}` on /write; a bad line is a 400 naming its
 * line number, and nothing of the request is stored (InfluxDB itself would write the
 * good lines: one record per request is all or nothing here).
 *
 * The client id: `Authorization: Token <id>` (2.x clients, Telegraf's influxdb_v2 output)
 * and `Bearer <id>` name the client `<id>`; Basic names it by the user; a 1.x client
 * with no Authorization header but `?u=<user>` is named by the user (the password `p`
 * is never stored). `db`, `org` and `bucket` are accepted and not stored.
 */
import type { IncomingMessage } from 'node:http';
import { createCountingEncoder, createRecordEncoder, RecordTooLarge } from '../records/record-encoder.ts';
import { ContentType } from '../sink/sink.ts';
import { LineProtocolError, parseLineProtocol, parsePrecision, type LineStats, type Precision } from './influx-line.ts';
import { ProtocolError, recordKeyFrom, type Answer, type DecodedRequest, type Protocol, type ProtocolOptions, type RequestContext } from './protocol.ts';

export const INFLUX_V1_PATH = '/write';
export const INFLUX_V2_PATH = '/api/v2/write';

export interface InfluxContext extends RequestContext {
  v2: boolean;
  precision: Precision;
  /** When the request arrived: the timestamp of lines without one. */
  now: number;
  stats?: LineStats;
}

const nothingToStore: DecodedRequest = { count: 0, value: new Uint8Array(0), contentType: ContentType.msgpack };
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };
const RAW_TYPES: Partial<Record<Precision, ContentType>> = {
  ns: ContentType.influxNs,
  us: ContentType.influxUs,
  ms: ContentType.influxMs,
  s: ContentType.influxS,
};

/** The precision a raw Influx content type stands for (for consumers of --value-format raw). */
export function rawInfluxPrecision(contentType: number): Precision | undefined {
  for (const p in RAW_TYPES) if (RAW_TYPES[p as Precision] === contentType) return p as Precision;
  return undefined;
}

function influxClientId(req: IncomingMessage, query: URLSearchParams): Buffer {
  let header = req.headers.authorization;
  if (header !== undefined) {
    const token = /^token\s+/i.exec(header.trim());
    if (token !== null) header = `Bearer ${header.trim().slice(token[0].length)}`;
  } else {
    const user = query.get('u');
    if (user !== null && user !== '') header = `Bearer ${Buffer.from(user, 'utf8').toString('latin1')}`;
  }
  return recordKeyFrom(header);
}

/**
 * The two Influx endpoints, one protocol object each (their error bodies differ, even for
 * a request refused before its context exists).
 */
export function createInfluxProtocols(options: ProtocolOptions): Protocol<InfluxContext>[] {
  return [createInfluxProtocol(options, false), createInfluxProtocol(options, true)];
}

function createInfluxProtocol(options: ProtocolOptions, v2: boolean): Protocol<InfluxContext> {
  return {
    name: v2 ? 'influx-v2' : 'influx-v1',
    paths: [v2 ? INFLUX_V2_PATH : INFLUX_V1_PATH],

    begin(req: IncomingMessage, query: URLSearchParams): InfluxContext {
      const precision = parsePrecision(query.get('precision'));
      if (precision === undefined) throw new ProtocolError(400, `invalid precision ${query.get('precision')}: use ns, us, ms or s`);
      if (options.valueFormat === 'raw' && RAW_TYPES[precision] === undefined) {
        throw new ProtocolError(400, `precision ${precision} cannot be stored with --value-format raw: use ns, us, ms or s`);
      }
      const key = influxClientId(req, query);
      return { key, v2, precision, now: Date.now() };
    },

    decode(body: Buffer, ctx: InfluxContext): DecodedRequest {
      try {
        if (options.valueFormat === 'raw') {
          const counter = createCountingEncoder();
          ctx.stats = parseLineProtocol(body, ctx.precision, ctx.now, counter);
          if (counter.count === 0) return nothingToStore;
          return { count: counter.count, value: body, contentType: RAW_TYPES[ctx.precision]! };
        }
        const enc = createRecordEncoder(options.valueFormat, body.length * 3, true); // valid until the next decode (protocol.ts)
        ctx.stats = parseLineProtocol(body, ctx.precision, ctx.now, enc);
        if (enc.count === 0) return nothingToStore; // only comments, blank lines or string fields
        return { count: enc.count, value: enc.finish(), contentType: enc.contentType };
      } catch (e) {
        if (e instanceof LineProtocolError) throw new ProtocolError(400, `unable to parse: ${e.message}`);
        if (e instanceof RecordTooLarge) throw new ProtocolError(413, e.message);
        throw new ProtocolError(400, `line protocol body could not be processed: ${(e as Error).message}`);
      }
    },

    ok(ctx: InfluxContext): Answer {
      const headers: Record<string, string> = {};
      if (ctx.stats !== undefined && ctx.stats.stringFieldsDropped > 0) {
        headers['x-metricstream-string-fields-dropped'] = String(ctx.stats.stringFieldsDropped);
      }
      return { status: 204, headers, body: '' };
    },

    fail(_ctx: InfluxContext | undefined, status: number, message: string, headers?: Record<string, string>): Answer {
      // 2.x error codes: invalid (400), request too large (413), unavailable (503)...
      const body =
        !v2
          ? JSON.stringify({ error: message })
          : JSON.stringify({ code: status === 413 ? 'request too large' : status >= 500 ? 'unavailable' : status === 401 ? 'unauthorized' : status === 429 ? 'too many requests' : 'invalid', message });
      return { status, headers: { ...JSON_HEADERS, ...headers }, body };
    },
  };
}
