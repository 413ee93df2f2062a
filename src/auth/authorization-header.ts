/**
 * Reads an HTTP `Authorization` header into its scheme and secret, for tokens mode.
 * Nothing here decides whether a credential is valid; that is the authenticator's job.
 * (Client-id mode reads the header with src/workers/client-id.ts, byte-exact.)
 */

/** One parsed header. `secret` is the bearer token, Basic password or raw value. */
export interface ParsedAuthorization {
  /** `Token <t>` (InfluxDB 2's scheme) reads as bearer. */
  scheme: 'bearer' | 'basic' | 'raw';
  /** Basic only: the user name (may be empty). */
  user?: string;
  secret: string;
}

const BEARER = /^(?:bearer|token)(?:[ \t]+|$)/i;
const BASIC = /^basic(?:[ \t]+|$)/i;

/**
 * Parses `Bearer <token>` (or `Token <token>`), `Basic base64(user:password)` (RFC 7617: the user name ends
 * at the first colon) or anything else as a raw value. Returns undefined for an empty
 * header or a Basic value that is not base64 of `user:password`.
 */
export function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const value = header.trim();
  if (value === '') return undefined;
  if (BEARER.test(value)) {
    const token = value.replace(BEARER, '').trim();
    return token === '' ? undefined : { scheme: 'bearer', secret: token };
  }
  if (BASIC.test(value)) {
    const encoded = value.replace(BASIC, '').trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return undefined;
    return { scheme: 'basic', user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  }
  return { scheme: 'raw', secret: value };
}
