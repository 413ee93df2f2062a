/**
 * The worker's protocol seam. The HTTP worker (src/workers/http-worker.ts) is one loop
 * for every wire protocol:
 *
 * ```
 *   route (exact path, POST)           -> the Protocol registered for that path
 *   protocol.begin(req, query)         -> headers only: client id, content type, params
 *   read the body within its limits    -> --max-body on the wire, --max-decoded-body after
 *                                         Content-Encoding (gzip, deflate, zstd, snappy),
 *                                         --max-inflight-bytes per worker, --body-timeout
 *   protocol.decode(body, ctx)         -> the record value (bytes), or ProtocolError
 *   claim ring space, await durability -> the owner's outcome for the record
 *   protocol.ok(ctx, outcome)          -> the protocol's own success answer
 *   protocol.fail(ctx, status, msg)    -> the protocol's own error answer
 * ```
 *
 * A protocol never touches the socket: it returns an Answer (status, headers, body) and
 * the worker writes it, counts it and closes the connection when it must. That keeps
 * limits, metrics and connection handling in one place, and lets a protocol answer in its
 * own conventions (JSON `{"error"}` for the seed endpoint, an empty 204 for Influx,
 * protobuf for OTLP...).
 *
 * Rules for a protocol module:
 * - begin() and decode() throw ProtocolError for anything the sender got wrong, and
 *   nothing else: the worker answers any other exception 500 and logs it as a bug.
 *   Wrap third-party decoders (JSON.parse, msgpack, protobuf, snappy) accordingly.
 * - decode() must cost what the body's bytes cost: no decoder feature that lets a small
 *   body expand into large work (msgpack pointers, unbounded nesting...).
 * - A protocol whose body encoding is part of the protocol itself (remote_write's snappy,
 *   sent with or without `Content-Encoding: snappy`) sets `ctx.rawBody = true` in begin():
 *   the worker then hands decode() the bytes exactly as received and the protocol
 *   decompresses them itself, within ProtocolOptions.maxDecodedBody
 *   (`snappyBlockDecode` in src/workers/content-encoding.ts checks the stated size first
 *   and throws DecodeError 413/400: map it to ProtocolError).
 * - A new protocol is one module here plus one line in index.ts (createProtocols).
 */
import type { IncomingMessage } from 'node:http';
import type { ContentType } from '../sink/sink.ts';
import { ClientIdError, clientIdFrom } from '../workers/client-id.ts';
import type { RejectReason } from '../workers/worker-metrics.ts';

/** What decode() produces: one ring record. */
export interface DecodedRequest {
  /** Metrics (samples) in the request, for the answer and the accepted-metrics counter. */
  count: number;
  /**
   * The stored value; a view of the body is fine, the worker copies it into the ring.
   * It need stay valid only until the next decode() in the same thread (the worker copies
   * it before it decodes again), so a protocol may return a view of a reused buffer.
   * count 0 with an empty value means nothing to store (a metadata-only remote_write
   * request, an OTLP request whose points were all rejected): the worker answers ok()
   * at once, with offset -1, and writes no record.
   */
  value: Uint8Array;
  contentType: ContentType;
}

/** What begin() returns and later calls receive: at least the record key. */
export interface RequestContext {
  /** The record key (client or tenant id) as UTF-8 bytes; it picks the partition. */
  key: Uint8Array;
  /**
   * true: do not decode Content-Encoding, decode() gets the body as received (the
   * protocol decompresses it itself, within ProtocolOptions.maxDecodedBody).
   */
  rawBody?: boolean;
}

/** The owner's outcome for an accepted record, as the protocol answers it. */
export type Outcome =
  /** fdatasync'd in the log, or acknowledged by Kafka with --acks 1/all. */
  | { kind: 'durable'; count: number; partition: number; offset: number }
  /** --acks 0 (file): in the ring, not yet durable. */
  | { kind: 'queued'; count: number; partition: number }
  /** Kafka --acks 0: sent, the broker gave no receipt. */
  | { kind: 'sent'; count: number; partition: number }
  /** Kafka down with --fallback file: durable in the local spill log, replayed later. */
  | { kind: 'spilled'; count: number; partition: number };

/** A complete HTTP answer; the worker adds content-length and writes it. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body: string | Uint8Array;
}

/**
 * The sender's fault (or a refusal the sender can act on): the worker answers it with
 * `protocol.fail(ctx, status, message, headers)` and counts it under `reason`.
 */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  readonly status: number;
  readonly headers: Record<string, string> | undefined;
  readonly reason: RejectReason;

  constructor(status: number, message: string, options: { headers?: Record<string, string>; reason?: RejectReason } = {}) {
    super(message);
    this.status = status;
    this.headers = options.headers;
    this.reason = options.reason ?? reasonForStatus(status);
  }
}

/**
 * The record key from an Authorization header (workers/client-id.ts), refused as a
 * ProtocolError: what every protocol's begin() calls, so a bad client id is answered in
 * that protocol's own error shape.
 */
export function recordKeyFrom(authorization: string | undefined): Buffer {
  try {
    return clientIdFrom(authorization);
  } catch (e) {
    if (e instanceof ClientIdError) throw new ProtocolError(e.status, e.message);
    throw e;
  }
}

/** The rejection counter a status is counted under when a protocol does not say. */
export function reasonForStatus(status: number): RejectReason {
  switch (status) {
    case 401:
      return 'no_client_id';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 408:
      return 'slow_body';
    case 413:
      return 'too_large';
    case 415:
      return 'unsupported_media_type';
    case 503:
      return 'overloaded';
    default:
      return 'bad_body';
  }
}

/** Limits and settings every protocol gets at construction (from the gateway's flags). */
export interface ProtocolOptions {
  /** --value-format: how decoded metrics are stored (msgpack, json; raw: as received). */
  valueFormat: 'msgpack' | 'json' | 'raw';
  /** Largest body after any decompression, including a protocol's own (snappy). */
  maxDecodedBody: number;
}

export interface Protocol<Ctx extends RequestContext = RequestContext> {
  /** Short name for logs and metrics: 'seed', 'remote-write', 'influx', 'otlp'. */
  readonly name: string;
  /** Exact paths it answers; only POST reaches begin() (other methods get 405). */
  readonly paths: readonly string[];
  /**
   * Headers only, before any body byte is read. Throws ProtocolError (401, 415, 400...).
   * `query` is the request's query string, shared and empty when it has none: read it,
   * never change it.
   */
  begin(req: IncomingMessage, query: URLSearchParams): Ctx;
  /**
   * The whole body, already decoded per Content-Encoding (unless ctx.rawBody) and within
   * the caps. Throws ProtocolError, never anything else; must not keep `body` after it
   * returns except through the returned value.
   */
  decode(body: Buffer, ctx: Ctx): DecodedRequest;
  /** The success answer for an accepted record. */
  ok(ctx: Ctx, outcome: Outcome): Answer;
  /**
   * An error answer in the protocol's conventions. `ctx` is undefined when the request
   * failed before or in begin(). `headers` (Retry-After, Allow...) must be kept.
   */
  fail(ctx: Ctx | undefined, status: number, message: string, headers?: Record<string, string>): Answer;
}
