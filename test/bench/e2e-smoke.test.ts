import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../support/gateway-process.ts';

describe('npm run bench:e2e', () => {
  it('runs the ceiling and the gateway behind the same load and writes JSON and a chart', async () => {
    const out = await tempDir('e2e-bench-');
    const proc = spawn(
      process.execPath,
      ['--import', './src/main/require-node.mjs', 'bench/e2e/main.ts', '--quick', '--rows', 'noop,file-acks1', '--metrics-per-request', '1', '--out', out],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => proc.once('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/\| noop +\|/);
    expect(stdout).toMatch(/\| file-acks1 +\|/);
    const report = JSON.parse(await readFile(path.join(out, 'e2e-latest.json'), 'utf8'));
    const rows = report.results as { row: string; successRate: number; requestsPerSecond: number; ratioToNoop: number }[];
    expect(rows.map((r) => r.row)).toEqual(['noop', 'file-acks1']);
    // Every request the gateway answered was a 2xx, and the ratio is computed against the ceiling.
    for (const r of rows) expect(r.successRate).toBe(1);
    expect(rows[0].ratioToNoop).toBe(1);
    expect(rows[1].ratioToNoop).toBeCloseTo(rows[1].requestsPerSecond / rows[0].requestsPerSecond, 6);
    expect(await readFile(path.join(out, 'e2e-latest.svg'), 'utf8')).toMatch(/^<svg/);
  });
});
