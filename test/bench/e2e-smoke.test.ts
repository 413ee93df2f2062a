import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBenchE2e } from '../support/bench-e2e.ts';
import { ROOT } from '../support/gateway-process.ts';

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
    // The flush the acks-1 rows wait for, where their data dirs are: in the output and the JSON.
    expect(stdout).toMatch(new RegExp(`fdatasync after a 1024-byte append in ${os.tmpdir()}, 1 at once: median \\d+ µs, p90 \\d+ µs, \\d+ syncs/s`));
    const sync = report!.syncLatency as { dir: string; medianUs: number }[];
    expect(sync.map((s) => s.dir)).toEqual([os.tmpdir()]);
    expect(sync[0].medianUs).toBeGreaterThan(0);
  });

  it('file-acks1-ram answers every request, and a run with it measures the flush of /dev/shm (its data dir\'s tmpfs) beside the disk\'s', async () => {
    const { code, stdout, stderr, report } = await runBenchE2e('noop,file-acks1-ram', '1');
    expect(code, stderr).toBe(0);
    const rows = report!.results as { row: string; successRate: number }[];
    expect(rows.map((r) => [r.row, r.successRate])).toEqual([['noop', 1], ['file-acks1-ram', 1]]);
    expect((report!.syncLatency as { dir: string }[]).map((s) => s.dir)).toEqual([os.tmpdir(), '/dev/shm']);
    expect(stdout).toMatch(/fdatasync after a 1024-byte append in \/dev\/shm, 1 at once/);
  });

  it('--base runs each gateway row from another checkout beside it and prints after/before ratios', async () => {
    // This checkout as its own base: what is tested is the pairing, not a difference.
    const { code, stdout, stderr, report } = await runBenchE2e('noop,file-acks1', '1', 120_000, ['--base', ROOT]);
    expect(code, stderr).toBe(0);
    const rows = report!.results as { row: string; successRate: number }[];
    expect(rows.map((r) => r.row)).toEqual(['noop', 'file-acks1@base', 'file-acks1']);
    for (const r of rows) expect(r.successRate).toBe(1);
    expect(stdout).toMatch(/against .+:\n {2}file-acks1: req\/s [\d.]+x, CPU per metric [\d.]+x, p99 [\d.]+ -> [\d.]+ ms/);
  });

  it('--base --interleave swaps the two rows\' turns every other run, runs each session on servers started afresh, and prints the paired runs\' median ratios (req/s, CPU per metric) with their intervals', async () => {
    const { code, stdout, stderr, report } = await runBenchE2e('noop,file-acks1', '1', 120_000, ['--base', ROOT, '--interleave', '--runs', '2', '--session-runs', '1']);
    expect(code, stderr).toBe(0);
    const rows = report!.results as { row: string; runs: { turn: number; session: number }[] }[];
    const runsOf = (name: string) => rows.find((r) => r.row === name)!.runs;
    expect(runsOf('noop').map((r) => r.turn)).toEqual([0, 0]);
    expect(runsOf('file-acks1@base').map((r) => r.turn)).toEqual([1, 2]);
    expect(runsOf('file-acks1').map((r) => r.turn)).toEqual([2, 1]);
    // --session-runs 1: each run on servers started afresh, @base's first in session 0.
    expect(runsOf('file-acks1@base').map((r) => r.session)).toEqual([0, 1]);
    expect(stdout).toMatch(/ {2}file-acks1: req\/s [\d.]+x \(90 % interval [\d.]+-[\d.]+\), CPU per metric [\d.]+x \(90 % interval [\d.]+-[\d.]+\), p99 .*; medians of 2 paired runs in 2 sessions\)/);
    for (const r of rows.filter((x) => x.row.startsWith('file-acks1'))) for (const run of (r as unknown as { runs: { cpuSecondsPerMillionMetrics: number }[] }).runs) expect(run.cpuSecondsPerMillionMetrics).toBeGreaterThan(0);
    expect(stdout).toMatch(/req\/s by session: [\d.]+x, [\d.]+x \(@base's server started first in the 1st, 3rd, \.\.\.\)/);
    expect(stdout).toMatch(/req\/s by turn order: [\d.]+x in the 1 runs with @base first, [\d.]+x in the 1 with it second/);
  });

  it('--base without a gateway in DIR exits 2 saying so', async () => {
    const { code, stderr } = await runBenchE2e('noop', '1', 60_000, ['--base', '/nonexistent']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--base: \/nonexistent has no src\/main\/cli\.ts/);
  });

  it('--session-runs without --base --interleave exits 2 instead of being ignored', async () => {
    for (const extra of [['--session-runs', '2'], ['--session-runs', '2', '--base', ROOT]]) {
      const { code, stderr } = await runBenchE2e('noop', '1', 60_000, extra);
      expect(code).toBe(2);
      expect(stderr).toMatch(/--session-runs needs --base and --interleave/);
    }
  });
});
