import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBenchE2e } from '../support/bench-e2e.ts';

describe('npm run bench:e2e', () => {
  it('runs the ceiling and the gateway behind the same load and writes JSON and a chart', async () => {
    const { code, stdout, stderr, report, outDir } = await runBenchE2e('noop,file-acks1', '1');
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/\| noop +\|/);
    expect(stdout).toMatch(/\| file-acks1 +\|/);
    const rows = report!.results as { row: string; successRate: number; requestsPerSecond: number; ratioToNoop: number }[];
    expect(rows.map((r) => r.row)).toEqual(['noop', 'file-acks1']);
    // Every request the gateway answered was a 2xx, and the ratio is computed against the ceiling.
    for (const r of rows) expect(r.successRate).toBe(1);
    expect(rows[0].ratioToNoop).toBe(1);
    expect(rows[1].ratioToNoop).toBeCloseTo(rows[1].requestsPerSecond / rows[0].requestsPerSecond, 6);
    expect(await readFile(path.join(outDir, 'e2e-latest.svg'), 'utf8')).toMatch(/^<svg/);
  });
});
