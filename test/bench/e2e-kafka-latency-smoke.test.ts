import { describe, expect, it } from 'vitest';
import { runBenchE2e } from '../support/bench-e2e.ts';

/**
 * The Kafka goal's rows run: both go through a second local mock cluster whose proxy runs
 * as its own process with 1 ms each way, at their own 200 connections, every answer a 2xx,
 * and the report says how long the proxy actually held frames. No figure is checked.
 */
describe('npm run bench:e2e, broker 1 ms away', () => {
  it('runs the gateway (kafka, acks all) and the kafkajs peer through the delaying proxy', async () => {
    const { code, stderr, report } = await runBenchE2e('kafka-acksall-1ms,peer-kafkajs-1ms', '1');
    expect(code, stderr).toBe(0);
    const rows = report!.results as { row: string; connections: number; successRate: number; requestsPerSecond: number }[];
    expect(rows.map((r) => r.row)).toEqual(['kafka-acksall-1ms', 'peer-kafkajs-1ms']);
    for (const r of rows) {
      expect(r.connections).toBe(200);
      expect(r.successRate).toBe(1);
      expect(r.requestsPerSecond).toBeGreaterThan(0);
    }
    const m = /(\d+) frames delayed, mean ([\d.]+) ms/.exec(report!.slowBroker!);
    expect(m, report!.slowBroker).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![2])).toBeGreaterThanOrEqual(1); // by construction: no frame leaves early
  });
});
