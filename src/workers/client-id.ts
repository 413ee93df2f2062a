/**
 * The record key from an `Authorization` header, byte-exact.
 *
 * Node hands header values over as Latin-1 strings (one char per byte), so the bytes the
 * client sent are `Buffer.from(value, 'latin1')`: a UTF-8 id (`café`) keeps its UTF-8
 * bytes instead of being re-encoded from Latin-1. Those bytes must be valid UTF-8.
 *
 * - `Bearer <id>`            -> `<id>`
 * - `Basic base64(user:pw)`  -> `user` (the password is never stored)
 * - anything else            -> the raw value, trimmed (the predecessor's `test_client`)
 *
 * A credential never becomes a key: only the id or user part is kept.
 */
import { isUtf8 } from 'node:buffer';

/** Longest client id in bytes (the ring payload allows 65535; keys are for partitioning). */
export const MAX_CLIENT_ID = 1024;

/** Why a header does not give a client id: the caller answers 401 or 400 with the message. */
export class ClientIdError extends Error {
  override name = 'ClientIdError';
  readonly status: 400 | 401;
  constructor(status: 400 | 401, message: string) {
    super(message);
    this.status = status;
  }
}

/** Returns the key bytes for an Authorization header value; throws ClientIdError. */
export function clientIdFrom(header: string | undefined): Buffer {
  if (header === undefined || header.trim() === '') {
    throw new ClientIdError(401, 'missing Authorization header: send the client id, e.g. "Authorization: my_client"');
  }
  const raw = Buffer.from(header.trim(), 'latin1');
  let id: Buffer;
  const scheme = /^(bearer|basic)\s+/i.exec(header.trim());
  if (scheme === null) id = raw;
  else if (scheme[1].toLowerCase() === 'bearer') id = raw.subarray(scheme[0].length);
  else {
    const b64 = header.trim().slice(scheme[0].length).trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new ClientIdError(400, 'Authorization: Basic credentials are not base64');
    const decoded = Buffer.from(b64, 'base64');
    const colon = decoded.indexOf(0x3a);
    id = colon === -1 ? decoded : decoded.subarray(0, colon);
  }
  if (id.length === 0) throw new ClientIdError(401, 'Authorization header names no client id');
  if (id.length > MAX_CLIENT_ID) throw new ClientIdError(400, `client id longer than ${MAX_CLIENT_ID} bytes`);
  if (!isUtf8(id)) throw new ClientIdError(400, 'client id is not valid UTF-8');
  return id;
}
