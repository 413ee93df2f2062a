/**
 * Smoke run of bench:disk-sync: the flush latency of a data dir, one fdatasync at a time
 * and several at once (a pipelined commit), for each directory asked.
 */
import { expect, it } from 'vitest';
import { benchRefusal, runBench } from '../support/bench-cli.ts';
import { tempDir } from '../support/gateway-process.ts';

const BENCH = 'bench/disk-sync.ts';

it('bench:disk-sync reports median and p90 fdatasync latency and syncs/s per directory and depth', async () => {
  const dir = await tempDir('disk-sync-');
  const { stdout } = await runBench(BENCH, ['--dir', `${dir},/dev/shm`, '--depth', '1,2', '--rounds', '40', '--repeat', '1'], 60_000);
  const lines = [...stdout.matchAll(/fdatasync after a 1024-byte append in (\S+), (\d) at once: median (\d+) µs, p90 (\d+) µs, (\d+) syncs\/s \(40\)/g)];
  expect(lines.map((m) => [m[1], m[2]])).toEqual([[dir, '1'], [dir, '2'], ['/dev/shm', '1'], ['/dev/shm', '2']]);
  for (const m of lines) expect(Number(m[4])).toBeGreaterThanOrEqual(Number(m[3]));
}, 60_000);

it('bench:disk-sync refuses a depth of 0, exit 2', async () => {
  const failed = await benchRefusal(BENCH, ['--depth', '0']);
  expect(failed?.code).toBe(2);
  expect(failed?.stderr).toMatch(/bench:disk-sync: --depth/);
}, 30_000);
