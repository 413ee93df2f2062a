/**
 * Reads an HTTP `Authorization` header into what the gateway needs from it: the scheme
 * and the secret (tokens mode), or the client id (client-id mode). Nothing here decides
 * whether a credential is valid; that is the authenticator's job.
 */

/** One parsed header. `secret` is the bearer token, Basic password or raw value. */
export interface ParsedAuthorization {
  scheme: 'bearer' | 'basic' | 'raw';
  /** Basic only: the user name (may be empty). */
  user?: string;
  secret: string;
}

const BEARER = /^bearer(?:[ \t]+|$)/i;
const BASIC = /^basic(?:[ \t]+|$)/i;

/**
 * Parses `Bearer <token>`, `Basic base64(user:password)` (RFC 7617: the user name ends
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

/**
 * The seed's client-id mode (SPEC.md): `Bearer <id>` names client `<id>`, `Basic
 * base64(user:pass)` names client `user` (the password is dropped, never stored), and a
 * raw value is the id as sent. Undefined when there is no usable id.
 */
export function clientIdFrom(header: string): string | undefined {
  const parsed = parseAuthorization(header);
  if (parsed === undefined) return undefined;
  if (parsed.scheme === 'basic') return parsed.user === '' ? undefined : parsed.user;
  return parsed.secret;
}
