/**
 * The HTTP worker's ServerResponse (Node's `ServerResponse` server option): a request's
 * bookkeeping lives in fields of the response that answers it.
 *
 * Why not WeakMaps keyed by the response, as before: every request added an entry to an
 * ephemeron table, and V8 pays for those at each scavenge. With a thousand responses in
 * flight, a WeakMap set and get cost 1.8 µs per request in a micro-benchmark (a field:
 * 0.1 µs), and the set was the worker's most sampled line in `npm run profile`. End to
 * end no change showed (0.99x the requests/s in 24 paired runs; bench/ISSUE-15.md,
 * eighteenth round): fields are simply the plainer way to hang state on a response.
 */
import type { IncomingMessage } from 'node:http';
import type { Identity } from '../auth/authenticator.ts';
import type { Reservation } from './body-reader.ts';

/** An authenticated writer's request: its samples and stored bytes, once decoded. */
export interface TenantWrite {
  who: Identity;
  samples: number;
  bytes: number;
}

// Without the ESM namespace of node:http (http-worker.ts says why).
const { ServerResponse } = process.getBuiltinModule('node:http');

export class GatewayResponse extends ServerResponse<IncomingMessage> {
  /** performance.now() when the request arrived: where its latency starts. */
  startedAt = 0;
  /** Set once the request is authenticated (tokens mode): its tenant's counters. */
  tenantWrite: TenantWrite | undefined = undefined;
  /** The bytes this request holds in the worker's budget until its response closes. */
  reservation: Reservation | undefined = undefined;
}
