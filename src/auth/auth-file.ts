/**
 * The auth file (`--auth tokens --auth-file FILE`): which tenants exist, the SHA-256
 * hashes of their tokens, the certificate subjects that stand for them (mTLS) and their
 * rate limits. Only hashes are stored, never a token.
 *
 * ```json
 * {
 *   "tenants": {
 *     "acme":   { "tokens": ["sha256:<hex>"], "certSubjects": ["CN=acme-agent"],
 *                 "limits": { "samplesPerSecond": 50000 } },
 *     "globex": { "tokens": ["sha256:<hex>", "sha256:<hex of the next token>"] }
 *   },
 *   "defaults": { "limits": { "samplesPerSecond": 100000, "bytesPerSecond": 10485760, "burstSeconds": 2 } }
 * }
 * ```
 *
 * This module parses and validates only; the supervisor reads the file (at start and on
 * SIGHUP) and keeps the old table when a new one is invalid.
 */
import { readFileSync } from 'node:fs';
import { isTokenHash } from './token-hash.ts';

/** Rates per second; 0 means unlimited. A bucket holds `burstSeconds` of its rate. */
export interface TenantLimits {
  samplesPerSecond: number;
  bytesPerSecond: number;
  burstSeconds: number;
}

export interface TenantSpec {
  tokens: string[];
  /** Certificate subjects, as `CN=<common name>`, that authenticate as this tenant. */
  certSubjects: string[];
  limits: TenantLimits;
}

/** A validated auth file: tenant id -> what authenticates it and its limits. */
export type AuthFile = Map<string, TenantSpec>;

/** Why an auth file was refused; the message names the file and the bad entry. */
export class AuthFileError extends Error {
  override name = 'AuthFileError';
}

/** Tenant ids become record keys and Prometheus label values: keep them plain. */
export const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const UNLIMITED: TenantLimits = { samplesPerSecond: 0, bytesPerSecond: 0, burstSeconds: 1 };
const LIMIT_KEYS = ['samplesPerSecond', 'bytesPerSecond', 'burstSeconds'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseLimits(where: string, raw: unknown, base: TenantLimits): TenantLimits {
  if (raw === undefined) return base;
  if (!isObject(raw)) throw new AuthFileError(`${where}: "limits" must be an object`);
  const out = { ...base };
  for (const key of Object.keys(raw)) {
    if (!(LIMIT_KEYS as readonly string[]).includes(key)) throw new AuthFileError(`${where}: unknown limit "${key}" (known: ${LIMIT_KEYS.join(', ')})`);
    const v = raw[key];
    const ok = typeof v === 'number' && Number.isFinite(v) && v >= 0 && (key !== 'burstSeconds' || v > 0);
    if (!ok) throw new AuthFileError(`${where}: limits.${key} must be a ${key === 'burstSeconds' ? 'positive' : 'non-negative'} number (0 = unlimited)`);
    out[key as (typeof LIMIT_KEYS)[number]] = v as number;
  }
  return out;
}

function stringList(where: string, raw: unknown, check: (s: string) => boolean, what: string): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new AuthFileError(`${where}: must be a list`);
  for (const s of raw) if (typeof s !== 'string' || !check(s)) throw new AuthFileError(`${where}: ${JSON.stringify(s)} is not ${what}`);
  return raw as string[];
}

/** Validates the text of an auth file; `source` names it in error messages. */
export function parseAuthFile(text: string, source = 'auth file'): AuthFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new AuthFileError(`${source}: not JSON (${(e as Error).message})`);
  }
  if (!isObject(json) || !isObject(json.tenants)) throw new AuthFileError(`${source}: needs {"tenants": {"<tenant id>": {"tokens": ["sha256:<hex>"]}}}`);
  for (const key of Object.keys(json)) if (key !== 'tenants' && key !== 'defaults') throw new AuthFileError(`${source}: unknown key "${key}"`);
  const defaults = json.defaults;
  if (defaults !== undefined && !isObject(defaults)) throw new AuthFileError(`${source}: "defaults" must be an object`);
  const base = parseLimits(`${source}: defaults`, defaults?.limits, UNLIMITED);
  const file: AuthFile = new Map();
  const seenTokens = new Map<string, string>();
  const seenSubjects = new Map<string, string>();
  for (const [id, raw] of Object.entries(json.tenants)) {
    const where = `${source}: tenant "${id}"`;
    if (!TENANT_ID.test(id)) throw new AuthFileError(`${where}: a tenant id is 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
    if (!isObject(raw)) throw new AuthFileError(`${where}: must be an object`);
    for (const key of Object.keys(raw)) {
      if (key !== 'tokens' && key !== 'certSubjects' && key !== 'limits') throw new AuthFileError(`${where}: unknown key "${key}"`);
    }
    const tokens = stringList(`${where}: tokens`, raw.tokens, isTokenHash, 'sha256:<64 lower-case hex digits> (npm run hash-token)');
    const certSubjects = stringList(`${where}: certSubjects`, raw.certSubjects, (s) => /^CN=.+$/.test(s), 'CN=<common name>');
    for (const t of tokens) {
      const other = seenTokens.get(t);
      if (other !== undefined) throw new AuthFileError(`${where}: token hash ${t.slice(0, 15)}… is also listed for tenant "${other}"`);
      seenTokens.set(t, id);
    }
    for (const s of certSubjects) {
      const other = seenSubjects.get(s);
      if (other !== undefined) throw new AuthFileError(`${where}: certificate subject ${s} is also listed for tenant "${other}"`);
      seenSubjects.set(s, id);
    }
    file.set(id, { tokens, certSubjects, limits: parseLimits(where, raw.limits, base) });
  }
  return file;
}

/** Reads and validates `path`. Throws AuthFileError (also for an unreadable file). */
export function loadAuthFile(path: string): AuthFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AuthFileError(`${path}: ${(e as Error).message}`);
  }
  return parseAuthFile(text, path);
}
