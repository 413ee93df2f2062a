/**
 * Runs a bench script the way its npm script does (node with the project's loader, from
 * the project root), for the bench smoke tests.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT } from './gateway-process.ts';

const run = promisify(execFile);

const nodeArgs = (script: string, args: readonly string[]) => ['--disable-warning=TimeoutNegativeWarning', '--import', './src/main/require-node.mjs', script, ...args];

/** Runs `script` (e.g. 'bench/disk-sync.ts') with `args`; rejects when it exits non-zero. */
export function runBench(script: string, args: readonly string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, nodeArgs(script, args), { cwd: ROOT, timeout: timeoutMs });
}

/**
 * Runs `script` with `args` that it should refuse: resolves with its exit code and stderr,
 * or undefined when it exited 0.
 */
export function benchRefusal(script: string, args: readonly string[]): Promise<{ code: number; stderr: string } | undefined> {
  return runBench(script, args, 30_000).then(
    () => undefined,
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
}
