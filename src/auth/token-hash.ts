/**
 * How a token is stored in the auth file: `sha256:<64 lowercase hex digits>` of the
 * token's UTF-8 bytes. Tokens are long random strings (see `npm run hash-token`), so a
 * plain fast hash is enough: there is no dictionary to brute-force, and a slow KDF would
 * put milliseconds on every request instead of a microsecond.
 */
// node:crypto on first use (about 0.6 MB of heap per worker thread): workers import this
// module, and only --auth tokens hashes anything there (issue 15, memory).
let cryptoModule: typeof import('node:crypto') | undefined;
const crypto = (): typeof import('node:crypto') => (cryptoModule ??= process.getBuiltinModule('node:crypto'));

export const HASH_PREFIX = 'sha256:';
const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;

/**
 * The auth file entry for `token`. `crypto.hash` (one shot) rather than createHash():
 * no Hash object per call, 0.6 against 2-3.5 µs per token here, on every request.
 */
export function hashToken(token: string): string {
  return HASH_PREFIX + crypto().hash('sha256', token, 'hex');
}

/** Whether `entry` is a well-formed stored hash (lower-case hex). */
export function isTokenHash(entry: string): boolean {
  return HASH_PATTERN.test(entry);
}

/** A new random token: 32 bytes of CSPRNG output, base64url (43 characters). */
export function newToken(): string {
  return crypto().randomBytes(32).toString('base64url');
}
