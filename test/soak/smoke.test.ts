/**
 * Smoke runs of the soaks (test/soak/*.soak.ts): each `npm run soak:*` script, run the
 * way the README says, at a size of seconds, must pass and print its result line, so the
 * soaks keep working between the times someone runs them for minutes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from '../support/gateway-process.ts';

const run = promisify(execFile);

/** The soaks at a size of seconds, and the result line each prints. */
const SMOKE: [script: string, size: Record<string, string>, result: RegExp][] = [
  ['soak:powercut', { SOAK_CUTS: '3' }, /3 cuts, seed 1: [1-9]\d* answered 200, [1-9]\d* still retained and checked/],
  ['soak:disk-full', { SOAK_FILLS: '3' }, /3 disk-full episodes, seed 1, \d+ kills while full: answers \{"200":[1-9]/],
  ['soak:log-errors', { SOAK_EPISODES: '4' }, /4 injected failures, seed 1: answers \{"200":[1-9]/],
  ['soak:worker-crash', { SOAK_CRASHES: '2' }, /2 worker crashes, seed 1: answers \{"200":[1-9]/],
  ['soak:http-fuzz', { SOAK_REQUESTS: '400' }, /400 damaged requests, seed 1: answers \{/],
  ['soak:log-group', { SOAK_KILLS: '2' }, /2 kills \([KT]{2}\), seed 1: [1-9]\d* records/],
  ['soak:kafka-group', { SOAK_KILLS: '1' }, /1 kills \([KT]\), seed 1: [1-9]\d* records/],
  ['soak:spill-powercut', { SOAK_CYCLES: '1' }, /1 cuts, seed 1: answers \{"200":[1-9]\d*,"202":[1-9]/],
  ['soak:kafka-flap', { SOAK_FLAPS: '1' }, /1 outages, seed 1: answers \{"200":[1-9]/],
  ['soak:store-flap', { SOAK_OUTAGES: '1' }, /1 store outages, seed 1: [1-9]\d* samples acknowledged/],
];

/** This process's environment without vitest's own variables, which would confuse the vitest a soak runs in. */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')));

for (const [script, size, result] of SMOKE) {
  it(`npm run ${script} passes at a size of seconds and prints its result`, async () => {
    const { stdout } = await run('npm', ['run', script], { cwd: ROOT, env: { ...ENV, ...size }, timeout: 170_000, maxBuffer: 64 << 20 }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`${script} failed: ${err.message}\n${(err.stdout ?? '').slice(-4000)}\n${(err.stderr ?? '').slice(-2000)}`);
    });
    expect(stdout).toMatch(result);
  }, 180_000);
}
