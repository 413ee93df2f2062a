import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs bench/ring/main.ts as `npm run bench:ring` does, in a child process. */
function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', './src/main/require-node.mjs', 'bench/ring/main.ts', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface RunJson {
  produced: number;
  consumed: number;
  lost: number;
  orderErrors: number;
}
interface CaseJson {
  lost: number;
  orderErrors: number;
  runs: RunJson[];
}

describe('npm run bench:ring', () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-ring-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('--quick --runs 1 exits 0 and writes a JSON in which the ring lost no record', async () => {
    const { code, stdout, stderr } = await runBench(['--quick', '--runs', '1', '--out', out]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('Throughput');

    const files = readdirSync(out);
    expect(files).toContain('ring-latest.json');
    expect(files.some((f) => /^ring-\d{4}-\d\d-\d\dT.*\.json$/.test(f))).toBe(true);
    const report = JSON.parse(readFileSync(join(out, 'ring-latest.json'), 'utf8'));
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(typeof report.machine.cpuModel).toBe('string');
    expect(report.machine.node).toBe(process.version);

    expect(report.throughput.length).toBeGreaterThan(0);
    for (const row of report.throughput as { producers: number; ring: CaseJson; baselines: Record<string, CaseJson> }[]) {
      expect(row.ring.lost).toBe(0);
      expect(row.ring.orderErrors).toBe(0);
      expect(row.ring.runs).toHaveLength(1);
      for (const run of row.ring.runs) {
        expect(run.produced).toBeGreaterThan(0);
        expect(run.consumed).toBe(run.produced);
        expect(run.lost).toBe(0);
      }
      // The baselines are checked the same way: a lossy baseline would make the ratio a lie.
      for (const baseline of Object.values(row.baselines)) expect(baseline.lost).toBe(0);
    }
    for (const row of report.latency as { lost: number; latency: { count: number } }[]) {
      expect(row.lost).toBe(0);
      expect(row.latency.count).toBeGreaterThan(0);
    }
  }, 180_000);

  it('--help prints the usage and exits 0 without running anything', async () => {
    const before = existsSync(out) ? readdirSync(out).length : 0;
    const { code, stdout } = await runBench(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: npm run bench:ring');
    expect(readdirSync(out).length).toBe(before);
  });

  it('rejects an invalid flag value with exit status 2', async () => {
    const { code, stderr } = await runBench(['--producers', '0']);
    expect(code).toBe(2);
    expect(stderr).toContain('--producers');
  });
});
