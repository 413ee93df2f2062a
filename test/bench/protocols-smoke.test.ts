/**
 * Smoke runs of the protocol benchmarks: bench:e2e's protocol rows and the vmagent peer
 * (every request answered 2xx), and bench:decode (both decoders agree and report figures).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runBenchE2e } from '../support/bench-e2e.ts';
import { ROOT } from '../support/gateway-process.ts';

const run = promisify(execFile);

describe('protocol benchmarks (smoke)', () => {
  it('bench:e2e runs the remote_write, Influx and OTLP rows and the vmagent peer, all 2xx', async () => {
    const { code, stderr, report } = await runBenchE2e('rw-acks1,influx-acks1,otlp-acks1,peer-vmagent', '10');
    expect(code, stderr).toBe(0);
    const rows = report!.results as { row: string; successRate: number; metricsPerSecond: number }[];
    expect(rows.map((r) => r.row)).toEqual(['rw-acks1', 'influx-acks1', 'otlp-acks1', 'peer-vmagent']);
    for (const r of rows) {
      expect(r.successRate).toBe(1);
      expect(r.metricsPerSecond).toBeGreaterThan(0);
    }
  }, 120_000);

  it('bench:decode compares the hand-written decoders with protobufjs', async () => {
    const { stdout } = await run(process.execPath, ['--import', './src/main/require-node.mjs', 'bench/protocol-decode.ts', '--quick'], { cwd: ROOT, timeout: 60_000 });
    expect(stdout).toMatch(/hand-written \/ protobufjs: remote_write [\d.]+x, OTLP [\d.]+x/);
    expect(stdout).toMatch(/OTLP\/JSON with the nesting check \/ without: [\d.]+x/);
  });
});
