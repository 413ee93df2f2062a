/** runLoad used in-process, as the benchmarks do. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/load/run-load.ts';
import { startNoopServer } from './helpers.ts';
import type { NoopServer } from './helpers.ts';

describe('runLoad in-process', () => {
  let noop: NoopServer;
  beforeAll(async () => {
    noop = await startNoopServer(2);
  });
  afterAll(async () => {
    await noop?.stop();
  });

  it('resolves with the summary of a request-count run', async () => {
    const s = await runLoad({ port: noop.port, clients: 3, requests: 7, metricsPerRequest: 2 });
    expect(s).toMatchObject({ total: 21, succeeded: 21, successRate: 1, statusCodes: { '200': 21 } });
    expect(s.metricsPerSecond).toBeCloseTo(s.requestsPerSecond * 2, 0);
  });

  it('ends a long duration run early when its signal aborts, keeping what was measured', async () => {
    const abort = new AbortController();
    const running = runLoad({ port: noop.port, clients: 2, durationSeconds: 600, signal: abort.signal });
    setTimeout(() => abort.abort(), 300);
    const s = await running;
    expect(s.aborted).toBe(true);
    expect(s.responses).toBeGreaterThan(0);
    expect(s.succeeded).toBe(s.total);
  });

  it('rejects invalid options', async () => {
    await expect(runLoad({ port: noop.port, clients: 0, requests: 1 })).rejects.toThrow(/clients/);
    await expect(runLoad({ port: noop.port, clients: 1 })).rejects.toThrow(/requests or durationSeconds/);
  });
});
