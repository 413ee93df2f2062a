/**
 * Runs `bench/e2e/main.ts --quick` (the smoke mode of `npm run bench:e2e`) as its own
 * process, the way the bench smoke tests need it: given rows and body sizes, into a fresh
 * results directory, with its output and the report it wrote. Asserts nothing itself.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, tempDir } from './gateway-process.ts';

export interface BenchE2eRun {
  /** Exit code (null when killed at the time limit). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** The results directory it wrote into. */
  outDir: string;
  /** The parsed `e2e-latest.json` of the run (undefined when it wrote none). */
  report: { results: Record<string, unknown>[]; slowBroker?: string; syncLatency?: unknown } | undefined;
}

/**
 * `rows` and `metricsPerRequest` as the bench's flags take them ("noop,file-acks1", "1");
 * `extra`: more flags (--base DIR).
 */
export async function runBenchE2e(rows: string, metricsPerRequest: string, timeoutMs = 120_000, extra: string[] = []): Promise<BenchE2eRun> {
  const out = await tempDir('e2e-bench-');
  const proc = spawn(
    process.execPath,
    ['--import', './src/main/require-node.mjs', 'bench/e2e/main.ts', '--quick', '--rows', rows, '--metrics-per-request', metricsPerRequest, '--out', out, ...extra],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => proc.once('close', resolve));
  clearTimeout(timer);
  const report = await readFile(path.join(out, 'e2e-latest.json'), 'utf8').then((t) => JSON.parse(t), () => undefined);
  return { code, stdout, stderr, outDir: out, report };
}
