/**
 * Who is writing: turns a request's credential (`Authorization`, Influx 1.x's `?p=`, or
 * with mTLS its client certificate's subject) into the tenant whose id becomes the record
 * key. One instance per worker; the table is replaced whole on reload (a plain field
 * swap: the worker's event loop is single-threaded, so no request sees half a table).
 */
import type { AuthTable } from './auth-table.ts';
import { parseAuthorization } from './authorization-header.ts';
import { hashToken } from './token-hash.ts';

/**
 * An authenticated writer: `key` is the record key (the tenant id's bytes) and `slot` its
 * place in the shared buckets and counters. Client-id mode has no tenant: key undefined
 * (the protocol's begin() names the client from the header, as the seed did), slot -1.
 */
export interface Identity {
  tenant: string;
  key: Buffer | undefined;
  slot: number;
}

/** Client-id mode's identity for every request: nothing checked, nothing limited. */
export const ANYONE: Identity = { tenant: '', key: undefined, slot: -1 };

/** Why a request is not let in: the status, the message, and whether to send the challenge. */
export interface Refusal {
  status: 400 | 401;
  message: string;
  /** true: add WWW-Authenticate (tokens mode). */
  challenge: boolean;
}

/** The challenge sent with every 401 in tokens mode, naming both schemes accepted. */
export const WWW_AUTHENTICATE = 'Bearer realm="metricstream", Basic realm="metricstream"';
/** One message for a missing and an unknown credential: no hint of which tenants exist. */
export const UNAUTHORIZED_MESSAGE = 'missing or invalid credentials';

export interface Authenticator {
  readonly mode: 'client-id' | 'tokens';
  /**
   * The identity of a request, or why not. `queryPassword` is Influx 1.x's `?p=` (read
   * only without an Authorization header); `certSubject` the verified client
   * certificate's `CN=<common name>`, when the connection presented one.
   */
  authenticate(authorization: string | undefined, queryPassword?: string, certSubject?: string): Identity | Refusal;
  /** Replaces the table (tokens mode; a no-op in client-id mode). */
  setTable(table: AuthTable): void;
}

/** Whether `r` is a refusal rather than an identity. */
export function isRefusal(r: Identity | Refusal): r is Refusal {
  return (r as Refusal).status !== undefined;
}

/**
 * The seed's behaviour: nobody is checked; each protocol's begin() reads the client id
 * from the header in its own conventions (src/workers/client-id.ts: `Bearer <id>` -> id,
 * Basic -> user name, a raw value as is; Influx also `Token <id>` and `?u=`).
 */
export function clientIdAuthenticator(): Authenticator {
  return {
    mode: 'client-id',
    authenticate: () => ANYONE,
    setTable() {},
  };
}

const UNAUTHORIZED: Refusal = { status: 401, message: UNAUTHORIZED_MESSAGE, challenge: true };

/**
 * Tokens mode: `Bearer <token>`, `Token <token>` (InfluxDB 2 clients) or Basic with the
 * token as password (the user name is ignored: the token alone names the tenant, as with
 * vmauth's bearer tokens, and collectors that only offer basic_auth can send any user
 * name). Without an Authorization header: Influx 1.x's `?p=<token>`, else a verified
 * client certificate whose subject the table maps to a tenant. Missing, malformed and
 * unknown credentials all get the same 401, so nobody learns which tenants exist.
 *
 * The lookup is a Map get by the token's SHA-256, not a comparison of secrets: its time
 * depends on the hash of what the client sent, which the client knows already, not on how
 * much of a stored token it guessed right, so a timing attack has nothing to learn and no
 * constant-time compare is needed. Hashing costs about 0.6 µs per request here, too
 * little to be worth a cache that would keep raw tokens in memory.
 */
export function tokenAuthenticator(initial: AuthTable): Authenticator {
  let table = initial;
  // Keys per slot, made once per table: no Buffer allocation per request.
  let keys = keysOf(table);
  const identity = (slot: number | undefined): Identity | Refusal => {
    if (slot === undefined) return UNAUTHORIZED;
    const entry = table.tenants[slot];
    return entry ? { tenant: entry.id, key: keys[slot]!, slot } : UNAUTHORIZED;
  };
  return {
    mode: 'tokens',
    authenticate(authorization, queryPassword, certSubject) {
      if (authorization === undefined || authorization.trim() === '') {
        if (queryPassword !== undefined && queryPassword !== '') return identity(table.tokens.get(hashToken(queryPassword)));
        return certSubject === undefined ? UNAUTHORIZED : identity(table.subjects.get(certSubject));
      }
      const parsed = parseAuthorization(authorization);
      if (parsed === undefined || parsed.scheme === 'raw' || parsed.secret === '') return UNAUTHORIZED;
      return identity(table.tokens.get(hashToken(parsed.secret)));
    },
    setTable(next) {
      table = next;
      keys = keysOf(next);
    },
  };
}

function keysOf(table: AuthTable): (Buffer | null)[] {
  return table.tenants.map((t) => (t === null ? null : Buffer.from(t.id, 'utf8')));
}
