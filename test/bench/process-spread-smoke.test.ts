/**
 * Smoke run of bench:process-spread: several servers of one row loaded in turns, each
 * turn's CPU split by thread group, the process terms and the noise reported with a
 * permutation p, and the JSON written; rows it cannot run are refused.
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { benchRefusal, runBench } from '../support/bench-cli.ts';

const BENCH = 'bench/process-spread.ts';

it('bench:process-spread loads each gateway process in turns and reports its own speed against the noise', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'process-spread-'));
  const { stdout } = await runBench(BENCH, ['--row', 'file-acks1', '--processes', '2', '--rounds', '3', '--duration', '1', '--warmup', '1', '--out', out], 90_000);
  // Each round takes every process once, the order rotated: process 0 first, then 1 first, ...
  const turns = [...stdout.matchAll(/^round (\d) process (\d): (\d+) req\/s; CPU µs\/request, user\+system: (.*)$/gm)];
  expect(turns.map((m) => `${m[1]}:${m[2]}`)).toEqual(['0:0', '0:1', '1:1', '1:0', '2:0', '2:1']);
  for (const m of turns) {
    expect(Number(m[3])).toBeGreaterThan(0);
    expect(m[4]).toMatch(/http-worker \d+\.\d\+\d+\.\d/);
    expect(m[4]).toMatch(/MainThread \d+\.\d\+\d+\.\d/);
  }
  expect(stdout).toMatch(/^process 0: [+-]\d+\.\d % against the mean \(median \d+ req\/s\)/m);
  expect(stdout).toMatch(/^one run's noise \(the round and the process taken out\): \d+\.\d %; the fastest process \d+\.\d % above the slowest; permutation p = [01]\.\d{3} /m);
  const [file] = await readdir(out);
  const report = JSON.parse(await readFile(path.join(out, file), 'utf8'));
  expect(report.row).toBe('file-acks1');
  expect(report.turns).toHaveLength(6);
  expect(report.processes.map((p: { process: number }) => p.process)).toEqual([0, 1]);
  // The process terms are ratios to the geometric mean: their product is 1.
  expect(report.processes[0].effect * report.processes[1].effect).toBeCloseTo(1, 9);
  expect(report.permutationP).toBeGreaterThanOrEqual(0);
  expect(report.permutationP).toBeLessThanOrEqual(1);
}, 90_000);

it('bench:process-spread refuses a row that needs a Kafka broker, exit 2', async () => {
  const failed = await benchRefusal(BENCH, ['--row', 'kafka-acks1']);
  expect(failed?.code).toBe(2);
  expect(failed?.stderr).toMatch(/--row: kafka-acks1 needs a Kafka broker/);
}, 30_000);
