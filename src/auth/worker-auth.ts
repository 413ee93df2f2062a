/**
 * Everything an HTTP worker does about who writes and how much: authenticate a request
 * (before any protocol reads its body), check and take the tenant's rate, count the
 * answer per tenant, and apply the tables the supervisor posts on SIGHUP. The worker
 * loop calls it in one place for every endpoint.
 */
import type { IncomingMessage } from 'node:http';
import type { AuthTable } from './auth-table.ts';
import { ANYONE, clientIdAuthenticator, isRefusal, tokenAuthenticator, type Authenticator, type Identity, type Refusal } from './authenticator.ts';
import { RateLimiter } from './rate-limiter.ts';
import { TenantMetrics } from './tenant-metrics.ts';
import { peerSubject, type TlsMaterial } from './tls-material.ts';

/** The part of a worker's workerData that belongs to auth. */
export interface WorkerAuthData {
  mode: 'client-id' | 'tokens';
  /** tokens mode: the current table. */
  table: AuthTable | undefined;
  /** Shared by every worker: the per-tenant buckets (rate-limiter.ts). */
  limits: SharedArrayBuffer;
  /** This worker's per-tenant counters (tenant-metrics.ts). */
  tenantMetrics: SharedArrayBuffer;
  /** HTTPS on the data port when set. */
  tls: TlsMaterial | undefined;
}

/**
 * What the supervisor posts to every worker on a reload: whatever changed. The worker
 * applies it and answers `{type: 'auth-applied', generation}`, so the supervisor can say
 * when every worker uses the new table.
 */
export interface AuthMessage {
  type: 'auth-reload';
  generation: number;
  table?: AuthTable;
  tls?: TlsMaterial;
}

export function isAuthMessage(m: { type: string }): m is AuthMessage {
  return m.type === 'auth-reload';
}

export class WorkerAuth {
  readonly #auth: Authenticator;
  readonly #limiter: RateLimiter;
  readonly #metrics: TenantMetrics;
  #table: AuthTable | undefined;

  constructor(data: WorkerAuthData) {
    this.#table = data.table;
    this.#auth = data.mode === 'tokens' ? tokenAuthenticator(data.table!) : clientIdAuthenticator();
    this.#limiter = new RateLimiter(data.limits);
    this.#metrics = new TenantMetrics(data.tenantMetrics);
  }

  get mode(): 'client-id' | 'tokens' {
    return this.#auth.mode;
  }

  /**
   * The writer of `req`, or why it is refused (see isRefusal). Reads no body. In tokens
   * mode an accepted request's Authorization header is replaced by `Bearer <tenant id>`
   * (and Influx's `?p=` is not read again): whatever a protocol module reads from the
   * request afterwards names the tenant, and the credential is gone from it.
   */
  identify(req: IncomingMessage, query: URLSearchParams): Identity | Refusal {
    if (this.#auth.mode === 'client-id') return ANYONE;
    const header = req.headers.authorization;
    const queryPassword = header === undefined || header.trim() === '' ? (query.get('p') ?? undefined) : undefined;
    const who = this.#auth.authenticate(header, queryPassword, peerSubject(req.socket));
    if (!isRefusal(who)) req.headers.authorization = `Bearer ${who.tenant}`;
    return who;
  }

  /** Before reading a body: ms to wait when the tenant is already past a limit, else 0. */
  blocked(who: Identity): number {
    const limits = who.slot < 0 ? undefined : this.#table?.tenants[who.slot]?.limits;
    return limits === undefined ? 0 : this.#limiter.blocked(who.slot, limits);
  }

  /** After decoding: takes the request's samples and body bytes; ms to wait (429) or 0. */
  take(who: Identity, samples: number, bytes: number): number {
    const limits = who.slot < 0 ? undefined : this.#table?.tenants[who.slot]?.limits;
    return limits === undefined ? 0 : this.#limiter.take(who.slot, limits, samples, bytes);
  }

  /** Counts an answered request for its tenant (nothing in client-id mode). */
  answered(who: Identity, status: number, samples: number, bytes: number): void {
    this.#metrics.answered(who.slot, status, samples, bytes);
  }

  /** Applies a new table (a reload); requests already past identify() keep their identity. */
  setTable(table: AuthTable): void {
    this.#table = table;
    this.#auth.setTable(table);
  }
}

/** Retry-After in whole seconds (at least 1) for a wait of `ms`. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
