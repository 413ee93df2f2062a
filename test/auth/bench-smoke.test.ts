/**
 * The bench:e2e row with tokens, limits and TLS together runs (smoke mode): every request
 * of the load tool authenticates over HTTPS and is answered 2xx. No timing is asserted.
 */
import { describe, expect, it } from 'vitest';
import { runBenchE2e } from '../support/bench-e2e.ts';

describe('bench:e2e security rows', () => {
  it('file-acks1-tls-limits: all requests authenticated over TLS and accepted', async () => {
    const { code, stderr, report } = await runBenchE2e('file-acks1-tls-limits', '1', 60_000);
    expect(code, stderr).toBe(0);
    const [row] = report!.results as { row: string; successRate: number; requestsPerSecond: number }[];
    expect(row.row).toBe('file-acks1-tls-limits');
    expect(row.successRate).toBe(1);
    expect(row.requestsPerSecond).toBeGreaterThan(0);
  });
});
