/** Smoke run of bench:wake: both ways of waiting complete round trips and report their cost. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from '../support/gateway-process.ts';

const run = promisify(execFile);

it('bench:wake reports round trips and the sleeper CPU per wake-up for both ways, and their ratio', async () => {
  const { stdout } = await run(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', '--import', './src/main/require-node.mjs', 'bench/wake-cost.ts', '--runs', '1', '--seconds', '1'],
    { cwd: ROOT, timeout: 60_000 },
  );
  expect(stdout).toMatch(/\| waitAsync timeout \| [1-9][\d,]* \| \d+\.\d µs \|/);
  expect(stdout).toMatch(/\| AsyncWaiter \| [1-9][\d,]* \| \d+\.\d µs \|/);
  expect(stdout).toMatch(/sleeper CPU per wake-up: \d+\.\d\dx/);
}, 60_000);
