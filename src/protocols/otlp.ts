/**
 * OTLP/HTTP metrics, `POST /v1/metrics`: `application/x-protobuf` or `application/json`
 * ExportMetricsServiceRequest (gzip per Content-Encoding, decoded by the worker). One
 * record per request. Answers, in the request's encoding:
 * - 200 ExportMetricsServiceResponse once durable; with `partial_success`
 *   (rejected_data_points, error_message) when some data points were rejected;
 * - 400 with a google.rpc.Status body for a body that does not decode;
 * - 429/503 with Retry-After (from the worker) when the client should retry.
 * Mapping of metrics to the record format: src/protocols/otlp-emit.ts.
 */
import type { IncomingMessage } from 'node:http';
import { createCountingEncoder, createRecordEncoder, RecordTooLarge } from '../records/record-encoder.ts';
import { ContentType } from '../sink/sink.ts';
import { decodeOtlpProtobuf } from './otlp-decode.ts';
import { OtlpEmitter } from './otlp-emit.ts';
import { decodeOtlpJson, jsonNestingWithin, MAX_JSON_NESTING, OtlpJsonError } from './otlp-json.ts';
import { ProtocolError, recordKeyFrom, type Answer, type DecodedRequest, type Protocol, type ProtocolOptions, type RequestContext } from './protocol.ts';
import { WireError } from './wire.ts';

export const OTLP_METRICS_PATH = '/v1/metrics';

export interface OtlpContext extends RequestContext {
  json: boolean;
  rejected: number;
  errorMessage: string;
}

/** Decodes an OTLP body (protobuf or parsed-from-bytes JSON) into an emitter; throws ProtocolError(400). */
export function decodeOtlp(body: Uint8Array, json: boolean, em: OtlpEmitter): void {
  try {
    if (json) {
      if (!jsonNestingWithin(body, MAX_JSON_NESTING)) throw new OtlpJsonError(`brackets nested deeper than ${MAX_JSON_NESTING} (the schema needs fewer than 50)`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
      } catch (e) {
        throw new OtlpJsonError(`body is not valid JSON: ${(e as Error).message}`);
      }
      decodeOtlpJson(parsed, em);
    } else decodeOtlpProtobuf(body, em);
  } catch (e) {
    if (e instanceof WireError) throw new ProtocolError(400, `malformed protobuf ExportMetricsServiceRequest: ${e.message}`);
    if (e instanceof OtlpJsonError) throw new ProtocolError(400, `invalid OTLP/JSON ExportMetricsServiceRequest: ${e.message}`);
    if (e instanceof RecordTooLarge) throw new ProtocolError(413, e.message);
    throw new ProtocolError(400, `OTLP body could not be decoded: ${(e as Error).message}`);
  }
}

function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

export function createOtlpProtocol(options: ProtocolOptions): Protocol<OtlpContext> {
  return {
    name: 'otlp',
    paths: [OTLP_METRICS_PATH],

    begin(req: IncomingMessage): OtlpContext {
      const type = mediaType(req.headers['content-type']);
      const json = type === 'application/json';
      if (!json && type !== 'application/x-protobuf') {
        throw new ProtocolError(415, `unsupported Content-Type ${type || '(none)'}: use application/x-protobuf or application/json`);
      }
      const key = recordKeyFrom(req.headers.authorization);
      return { key, json, rejected: 0, errorMessage: '' };
    },

    decode(body: Buffer, ctx: OtlpContext): DecodedRequest {
      const raw = options.valueFormat === 'raw';
      const enc = options.valueFormat === 'raw' ? createCountingEncoder() : createRecordEncoder(options.valueFormat, body.length * 4, true); // valid until the next decode (protocol.ts)
      const em = new OtlpEmitter(enc);
      decodeOtlp(body, ctx.json, em);
      ctx.rejected = em.rejected;
      ctx.errorMessage = em.firstError;
      // No point accepted (an empty export, or every point rejected): no record.
      if (enc.count === 0) return { count: 0, value: new Uint8Array(0), contentType: ContentType.msgpack };
      if (raw) return { count: enc.count, value: body, contentType: ctx.json ? ContentType.otlpJson : ContentType.otlpProtobuf };
      return { count: enc.count, value: enc.finish(), contentType: enc.contentType };
    },

    ok(ctx: OtlpContext): Answer {
      return exportResponse(ctx.json, ctx.rejected, ctx.errorMessage);
    },

    fail(ctx: OtlpContext | undefined, status: number, message: string, headers?: Record<string, string>): Answer {
      const json = ctx?.json ?? true;
      // google.rpc.Status: code (gRPC code), message. 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE.
      const code = status === 429 || status === 413 ? 8 : status >= 500 ? 14 : status === 401 ? 16 : 3;
      if (json) return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ code, message }) };
      const w = new ProtoWriter();
      w.varintField(1, code);
      w.stringField(2, message);
      return { status, headers: { 'content-type': 'application/x-protobuf', ...headers }, body: w.finish() };
    },
  };
}

/** An ExportMetricsServiceResponse (with partial_success when rejected > 0). */
export function exportResponse(json: boolean, rejected: number, errorMessage: string): Answer {
  if (json) {
    const body = rejected > 0 ? JSON.stringify({ partialSuccess: { rejectedDataPoints: String(rejected), errorMessage } }) : '{}';
    return { status: 200, headers: { 'content-type': 'application/json' }, body };
  }
  const w = new ProtoWriter();
  if (rejected > 0) {
    const inner = new ProtoWriter();
    inner.varintField(1, rejected);
    inner.stringField(2, errorMessage);
    w.bytesField(1, inner.finish());
  }
  return { status: 200, headers: { 'content-type': 'application/x-protobuf' }, body: w.finish() };
}

/** The few protobuf writes the answers need. */
class ProtoWriter {
  private parts: number[] = [];
  private varint(v: number): void {
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }
  varintField(field: number, v: number): void {
    this.varint(field << 3);
    this.varint(v);
  }
  bytesField(field: number, b: Uint8Array): void {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    for (const x of b) this.parts.push(x);
  }
  stringField(field: number, s: string): void {
    this.bytesField(field, Buffer.from(s, 'utf8'));
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}
