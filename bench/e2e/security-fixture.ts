/**
 * What the auth/limits/TLS rows of bench:e2e need, made once per run in a temp dir: an
 * auth file of 64 tenants (one token each; with and without rate limits so high that
 * nothing is refused: the rows measure the checks, not throttling) and a self-signed
 * certificate made with openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashToken } from '../../src/auth/token-hash.ts';

export const BENCH_TENANTS = 64;

/** The bearer token of load connection `i`. */
export const benchAuthorization = (i: number) => `Bearer bench-token-${i % BENCH_TENANTS}`;

let made: { authFile: string; limitsFile: string; cert: string; key: string } | undefined;

/** Paths of the auth files and certificate (created on first use). */
export function securityFixture(): { authFile: string; limitsFile: string; cert: string; key: string } {
  if (made) return made;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-security-'));
  const tenants = (limits?: object) =>
    Object.fromEntries(Array.from({ length: BENCH_TENANTS }, (_, i) => [`tenant-${i}`, { tokens: [hashToken(`bench-token-${i}`)], ...(limits ? { limits } : {}) }]));
  const authFile = path.join(dir, 'auth.json');
  const limitsFile = path.join(dir, 'auth-limits.json');
  writeFileSync(authFile, JSON.stringify({ tenants: tenants() }));
  writeFileSync(limitsFile, JSON.stringify({ tenants: tenants({ samplesPerSecond: 1e9, bytesPerSecond: 1e12 }) }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  made = { authFile, limitsFile, cert, key };
  return made;
}
