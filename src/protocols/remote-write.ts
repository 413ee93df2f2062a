/**
 * Prometheus remote_write, `POST /api/v1/write`: 1.0 (`prometheus.WriteRequest`) and 2.0
 * (`io.prometheus.write.v2.Request`), snappy block format, one record per request.
 *
 * - Content-Type `application/x-protobuf` (or absent) and `;proto=prometheus.WriteRequest`
 *   select 1.0; `;proto=io.prometheus.write.v2.Request` selects 2.0; any other proto or
 *   media type is 415 (the 2.0 spec's answer, so a 2.0 sender can fall back to 1.0).
 * - Content-Encoding must be `snappy` or absent (remote_write always snappy-compresses);
 *   anything else is 415. The decompressed size is capped before inflating (snappy-block.ts,
 *   a JavaScript decoder into a reused buffer: measured 2-4x less CPU than the native package).
 * - Answers: 204 with an empty body once the record is durable (2.0 adds the
 *   X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written headers); 400 for
 *   data that will never be accepted (senders drop it, never retry); 413/415 likewise;
 *   5xx/429 for what may succeed later (senders retry with backoff). Error bodies are
 *   plain text, which Prometheus prints in its log.
 */
import type { IncomingMessage } from 'node:http';
import { createCountingEncoder, createRecordEncoder, RecordTooLarge, type RecordEncoder } from '../records/record-encoder.ts';
import { ContentType } from '../sink/sink.ts';
import { ProtocolError, recordKeyFrom, type Answer, type DecodedRequest, type Protocol, type ProtocolOptions, type RequestContext } from './protocol.ts';
import { decodeWriteRequestV1, decodeWriteRequestV2, RemoteWriteError, type RemoteWriteStats } from './remote-write-decode.ts';
import { DecodeError } from '../workers/content-encoding.ts';
import { snappyBlockDecodeReused } from './snappy-block.ts';

export const REMOTE_WRITE_PATH = '/api/v1/write';
const V2_PROTO = 'io.prometheus.write.v2.Request';
const V1_PROTO = 'prometheus.WriteRequest';

export interface RemoteWriteContext extends RequestContext {
  version: 1 | 2;
  stats?: RemoteWriteStats;
}

/**
 * Which remote_write version a Content-Type asks for: 1, 2, or a string saying why it
 * is unsupported.
 */
export function remoteWriteVersion(contentType: string | undefined): 1 | 2 | string {
  if (contentType === undefined || contentType.trim() === '') return 1; // 2.0 spec: assume 1.0
  const parts = contentType.split(';');
  const media = parts[0]!.trim().toLowerCase();
  if (media !== 'application/x-protobuf') return `unsupported Content-Type ${media}: use application/x-protobuf`;
  let proto: string | undefined;
  for (let i = 1; i < parts.length; i++) {
    const eq = parts[i]!.indexOf('=');
    if (eq !== -1 && parts[i]!.slice(0, eq).trim().toLowerCase() === 'proto') proto = parts[i]!.slice(eq + 1).trim().replace(/^"|"$/g, '');
  }
  if (proto === undefined || proto === V1_PROTO) return 1;
  if (proto === V2_PROTO) return 2;
  return `unsupported proto ${proto}: this receiver accepts ${V1_PROTO} and ${V2_PROTO}`;
}

/** Decodes an un-snappied remote_write body of `version` into `enc`; throws RemoteWriteError. */
export function decodeRemoteWrite(version: 1 | 2, body: Uint8Array, enc: RecordEncoder): RemoteWriteStats {
  return version === 2 ? decodeWriteRequestV2(body, enc) : decodeWriteRequestV1(body, enc);
}

const nothingToStore: DecodedRequest = { count: 0, value: new Uint8Array(0), contentType: ContentType.msgpack };
const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

export function createRemoteWriteProtocol(options: ProtocolOptions): Protocol<RemoteWriteContext> {
  return {
    name: 'remote-write',
    paths: [REMOTE_WRITE_PATH],

    begin(req: IncomingMessage): RemoteWriteContext {
      const key = recordKeyFrom(req.headers.authorization);
      const version = remoteWriteVersion(req.headers['content-type']);
      if (typeof version === 'string') throw new ProtocolError(415, version);
      const encoding = req.headers['content-encoding'];
      if (encoding !== undefined && encoding.trim().toLowerCase() !== 'snappy') {
        throw new ProtocolError(415, `unsupported Content-Encoding ${encoding}: remote_write bodies are snappy block format`);
      }
      return { key, version, rawBody: true };
    },

    decode(body: Buffer, ctx: RemoteWriteContext): DecodedRequest {
      try {
        // The snappy header states the decoded size: over the cap is 413 before inflating.
        // Into a reused buffer (snappy-block.ts): valid until the next body, which is enough.
        const plain = snappyBlockDecodeReused(body, options.maxDecodedBody);
        if (options.valueFormat === 'raw') {
          const counter = createCountingEncoder();
          ctx.stats = decodeRemoteWrite(ctx.version, plain, counter);
          if (counter.count === 0) return nothingToStore;
          return { count: counter.count, value: body, contentType: ctx.version === 2 ? ContentType.remoteWriteV2 : ContentType.remoteWriteV1 };
        }
        const enc = createRecordEncoder(options.valueFormat, plain.length * 2, true); // valid until the next decode (protocol.ts)
        ctx.stats = decodeRemoteWrite(ctx.version, plain, enc);
        if (enc.count === 0) return nothingToStore; // e.g. Prometheus' metadata-only requests
        return { count: enc.count, value: enc.finish(), contentType: enc.contentType };
      } catch (e) {
        if (e instanceof DecodeError) throw new ProtocolError(e.status, e.message);
        if (e instanceof RemoteWriteError) throw new ProtocolError(400, e.message);
        if (e instanceof RecordTooLarge) throw new ProtocolError(413, e.message);
        throw new ProtocolError(400, `remote_write body could not be decoded: ${(e as Error).message}`);
      }
    },

    ok(ctx: RemoteWriteContext): Answer {
      return { status: 204, headers: writtenHeaders(ctx, true), body: '' };
    },

    fail(ctx: RemoteWriteContext | undefined, status: number, message: string, headers?: Record<string, string>): Answer {
      return { status, headers: { ...TEXT, ...writtenHeaders(ctx, false), ...headers }, body: message + '\n' };
    },
  };
}

/** The 2.0 spec's written-count headers (zeros when nothing was written). */
function writtenHeaders(ctx: RemoteWriteContext | undefined, written: boolean): Record<string, string> {
  if (ctx === undefined || ctx.version !== 2) return {};
  const s = written ? ctx.stats : undefined;
  return {
    'x-prometheus-remote-write-samples-written': String(s?.samples ?? 0),
    'x-prometheus-remote-write-histograms-written': String(s?.histograms ?? 0),
    'x-prometheus-remote-write-exemplars-written': String(s?.exemplarsWritten ?? 0),
  };
}
