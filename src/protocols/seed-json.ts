/**
 * The seed endpoint, `POST /metrics`, compatible with the predecessor's clients:
 *
 * ```
 * Authorization: <client-id> | Bearer <client-id> | Basic base64(<client-id>:<password>)
 * Content-Type: application/json | application/msgpack
 * {"metrics":[{"name":"cpu","value":75,"timestamp":1700000000000,"tags":{"host":"a"}}]}
 * ```
 *
 * Answers are JSON: `200 {"accepted","partition","offset"}`, `202 {"accepted","partition"}`
 * (`"spilled":true` when spilled), errors `{"error": "..."}`. Body rules live in
 * src/workers/metrics-body.ts.
 */
import type { IncomingMessage } from 'node:http';
import { BadRequest, bodyFormat, parseMetricsBody, type BodyFormat } from '../workers/metrics-body.ts';
import { ProtocolError, recordKeyFrom, type Answer, type DecodedRequest, type Outcome, type Protocol, type ProtocolOptions, type RequestContext } from './protocol.ts';

export interface SeedContext extends RequestContext {
  format: BodyFormat;
}

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

export function createSeedProtocol(options: ProtocolOptions): Protocol<SeedContext> {
  // --value-format raw stores JSON as sent and msgpack as sent, like json does.
  const store: BodyFormat = options.valueFormat === 'msgpack' ? 'msgpack' : 'json';
  return {
    name: 'seed',
    paths: ['/metrics'],

    begin(req: IncomingMessage): SeedContext {
      const key = recordKeyFrom(req.headers.authorization);
      const format = bodyFormat(req.headers['content-type']);
      if (format === undefined) throw new ProtocolError(415, 'Content-Type must be application/json or application/msgpack');
      return { key, format };
    },

    decode(body: Buffer, ctx: SeedContext): DecodedRequest {
      try {
        return parseMetricsBody(body, ctx.format, store);
      } catch (e) {
        if (e instanceof BadRequest) throw new ProtocolError(400, e.message);
        // Any other failure of a decoder or encoder on this body is still the body's doing.
        throw new ProtocolError(400, `body could not be processed: ${(e as Error).message}`);
      }
    },

    ok(_ctx: SeedContext, o: Outcome): Answer {
      if (o.kind === 'durable') return { status: 200, headers: JSON_HEADERS, body: `{"accepted":${o.count},"partition":${o.partition},"offset":${o.offset}}` };
      if (o.kind === 'spilled') return { status: 202, headers: JSON_HEADERS, body: `{"accepted":${o.count},"partition":${o.partition},"spilled":true}` };
      return { status: 202, headers: JSON_HEADERS, body: `{"accepted":${o.count},"partition":${o.partition}}` };
    },

    fail(_ctx: SeedContext | undefined, status: number, message: string, headers?: Record<string, string>): Answer {
      return { status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify({ error: message }) };
    },
  };
}
