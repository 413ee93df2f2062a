/**
 * Who is writing: turns a request's `Authorization` header (and, with mTLS, its client
 * certificate's subject) into the tenant that becomes the record key. One instance per
 * worker; the table is replaced whole on reload (a plain field swap: the worker's event
 * loop is single-threaded, so no request ever sees half a table).
 */
import type { AuthTable } from './auth-table.ts';
import { clientIdFrom, parseAuthorization } from './authorization-header.ts';
import { hashToken } from './token-hash.ts';

/** An authenticated writer: `tenant` is the record key; `slot` -1 = no per-tenant state. */
export interface Identity {
  tenant: string;
  slot: number;
}

/** The challenge sent with every 401, naming both schemes the gateway accepts. */
export const WWW_AUTHENTICATE = 'Bearer realm="metricstream", Basic realm="metricstream"';
/** One message for a missing and an unknown credential: no hint of which tenants exist. */
export const UNAUTHORIZED_MESSAGE = 'missing or invalid credentials';

export interface Authenticator {
  readonly mode: 'client-id' | 'tokens';
  /**
   * The identity of a request, or undefined (answer 401). `certSubject` is the verified
   * client certificate's `CN=<common name>`, when the connection presented one.
   */
  authenticate(authorization: string | undefined, certSubject?: string): Identity | undefined;
  /** Replaces the table (tokens mode; a no-op in client-id mode). */
  setTable(table: AuthTable): void;
}

/** Longest client id accepted in client-id mode, in UTF-8 bytes (the worker answers 400 past it). */
export const MAX_CLIENT_ID_BYTES = 1024;

/** The seed's behaviour: the header names the client, nobody checks it. */
export function clientIdAuthenticator(): Authenticator {
  return {
    mode: 'client-id',
    authenticate(authorization) {
      if (authorization === undefined) return undefined;
      const id = clientIdFrom(authorization);
      if (id === undefined) return undefined;
      return { tenant: id, slot: -1 };
    },
    setTable() {},
  };
}

/**
 * Tokens mode: `Bearer <token>` or Basic with the token as password (the user name is
 * ignored: the token alone names the tenant, as with Grafana Cloud's or vmauth's bearer
 * tokens, and collectors that only offer basic_auth can send any user name). Without an
 * Authorization header, a client certificate whose subject the table maps to a tenant
 * authenticates that tenant.
 *
 * The lookup is a Map get by the token's SHA-256, not a comparison of secrets: the time
 * it takes depends on the hash of what the client sent, which the client already knows,
 * not on how much of a stored token it guessed right, so there is nothing for a timing
 * attack to learn and no constant-time compare is needed. Hashing costs about 0.7 µs per
 * request here (measured in the README), too little to be worth a cache that would keep
 * raw tokens in memory.
 */
export function tokenAuthenticator(initial: AuthTable): Authenticator {
  let table = initial;
  const identity = (slot: number | undefined): Identity | undefined => {
    if (slot === undefined) return undefined;
    const entry = table.tenants[slot];
    return entry ? { tenant: entry.id, slot } : undefined;
  };
  return {
    mode: 'tokens',
    authenticate(authorization, certSubject) {
      if (authorization === undefined || authorization.trim() === '') {
        return certSubject === undefined ? undefined : identity(table.subjects.get(certSubject));
      }
      const parsed = parseAuthorization(authorization);
      if (parsed === undefined || parsed.scheme === 'raw' || parsed.secret === '') return undefined;
      return identity(table.tokens.get(hashToken(parsed.secret)));
    },
    setTable(next) {
      table = next;
    },
  };
}
