/**
 * Smoke run of bench:thread-cpu: it splits a server's CPU per request by thread, the HTTP
 * workers at least, adds the load generator's, counts collections per isolate with --gc,
 * runs the vmagent peer, and refuses rows it does not know.
 */
import { expect, it } from 'vitest';
import { benchRefusal, runBench } from '../support/bench-cli.ts';

const BENCH = 'bench/thread-cpu.ts';

it('bench:thread-cpu reports CPU µs per request for each thread group of the gateway', async () => {
  const { stdout } = await runBench(BENCH, ['--rows', 'file-acks1', '--duration', '1', '--warmup', '1', '--gc'], 60_000);
  expect(stdout).toMatch(/file-acks1: \d+ req\/s, [1-9]\d* answered 2xx/);
  expect(stdout).toMatch(/http-worker \(2\) +\d+\.\d µs\/request/);
  expect(stdout).toMatch(/MainThread \(1\) +\d+\.\d µs\/request/);
  expect(stdout).toMatch(/total +\d+\.\d µs\/request/);
  // The load generator's share of the two cores, and what server and load together allow.
  expect(stdout).toMatch(/load generator +\d+\.\d µs\/request/);
  expect(stdout).toMatch(/server \+ load +\d+\.\d µs\/request: at most \d+ req\/s on \d+ cores/);
  // --gc: the HTTP workers allocate per request, so at least they collect; each isolate apart.
  const isolates = [...stdout.matchAll(/gc, isolate (0x[0-9a-f]+) +per 1k requests: +(\d+\.\d{3}) scavenges +\d+\.\d{3} mark-compacts; pause \d+ ms in all, \d+ B allocated\/request/g)];
  expect(isolates.length).toBeGreaterThanOrEqual(2);
  expect(new Set(isolates.map((m) => m[1])).size).toBe(isolates.length);
  expect(isolates.some((m) => Number(m[2]) > 0)).toBe(true);
}, 60_000);

it('bench:thread-cpu runs the vmagent peer too: its own process, its threads by name', async () => {
  const { stdout } = await runBench(BENCH, ['--rows', 'peer-vmagent', '--metrics-per-request', '100', '--duration', '1', '--warmup', '1'], 60_000);
  expect(stdout).toMatch(/peer-vmagent: \d+ req\/s, [1-9]\d* answered 2xx/);
  expect(stdout).toMatch(/vmagent \(\d+\) +\d+\.\d µs\/request/);
}, 60_000);

it('bench:thread-cpu refuses a row bench:e2e does not know, exit 2', async () => {
  const failed = await benchRefusal(BENCH, ['--rows', 'nope']);
  expect(failed?.code).toBe(2);
  expect(failed?.stderr).toMatch(/--rows: "nope" is not a bench:e2e row \(known: noop, /);
}, 30_000);
