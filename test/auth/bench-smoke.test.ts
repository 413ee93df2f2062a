/**
 * The bench:e2e row with tokens, limits and TLS together runs (smoke mode): every request
 * of the load tool authenticates over HTTPS and is answered 2xx. No timing is asserted.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../support/gateway-process.ts';

describe('bench:e2e security rows', () => {
  it('file-acks1-tls-limits: all requests authenticated over TLS and accepted', async () => {
    const out = await tempDir('bench-e2e-security-');
    const run = spawnSync(
      process.execPath,
      ['--import', './src/main/require-node.mjs', 'bench/e2e/main.ts', '--quick', '--rows', 'file-acks1-tls-limits', '--metrics-per-request', '1', '--out', out],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const file = readdirSync(out).find((f) => /^e2e-.*\.json$/.test(f) && f !== 'e2e-latest.json')!;
    const report = JSON.parse(readFileSync(path.join(out, file), 'utf8'));
    const [row] = report.results as { row: string; successRate: number; requestsPerSecond: number }[];
    expect(row.row).toBe('file-acks1-tls-limits');
    expect(row.successRate).toBe(1);
    expect(row.requestsPerSecond).toBeGreaterThan(0);
  });
});
