import { readdir, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { partitionFor } from '../../src/records/partitioner.ts';
import { consumeAll, postMetrics, startGateway, tempDir, type ConsumedLine, type GatewayProcess } from '../support/gateway-process.ts';
import { loadUntil, type Outcome } from '../support/sequential-load.ts';

let gateway: GatewayProcess | undefined;
afterEach(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
  gateway = undefined;
});

/**
 * Resolves `reached` once `count` requests were answered 200: the tests stop or kill the
 * gateway after that many acknowledgements, not after a fixed time, so a slow machine
 * cannot leave them with nothing acknowledged to check.
 */
function ackGate(count: number): { reached: Promise<void>; acked(): void } {
  let seen = 0;
  let open!: () => void;
  const reached = new Promise<void>((resolve) => (open = resolve));
  return { reached, acked: () => ++seen === count && open() };
}

function expectAllAcknowledgedStored(outcomes: Outcome[], stored: ConsumedLine[]): void {
  const byPosition = new Map(stored.map((r) => [`${r.partition}/${r.offset}`, r]));
  const acknowledged = outcomes.filter((o) => o.status === 200);
  expect(acknowledged.length).toBeGreaterThan(0);
  for (const o of acknowledged) {
    const r = byPosition.get(`${o.partition}/${o.offset}`);
    expect(r, `${o.client} seq ${o.seq} answered 200 at ${o.partition}/${o.offset}`).toBeDefined();
    expect(r!.key).toBe(o.client);
    expect(r!.value.metrics[0].value).toBe(o.seq);
  }
}


describe('shutdown and crashes lose nothing acknowledged', () => {
  it('SIGTERM under load: drains, answers every request, exits 0; every 200 is in the log', async () => {
    const dataDir = await tempDir();
    gateway = await startGateway(['--workers', '4', '--data-dir', dataDir]);
    const g = gateway;
    const gate = ackGate(200);
    const stopped = gate.reached.then(() => g.stop('SIGTERM'));
    const outcomes = await loadUntil(g.port, 'crash_client', 16, stopped, gate.acked);
    expect(await stopped).toBe(0);
    // Each request was answered: 200 before the drain, 503 during it; or refused at connect after.
    const statuses = new Set(outcomes.map((o) => o.status));
    for (const s of statuses) expect([200, 503, 'error']).toContain(s);
    const summary = g.logs.find((l) => l.msg === 'shutdown complete')!;
    expect(summary.records).toBe(outcomes.filter((o) => o.status === 200).length);
    expectAllAcknowledgedStored(outcomes, await consumeAll(dataDir));
  });

  it('kill -9 under load, then restart: every record answered 200 is present', async () => {
    const dataDir = await tempDir();
    gateway = await startGateway(['--workers', '4', '--data-dir', dataDir]);
    const g = gateway;
    const gate = ackGate(200);
    const killed = gate.reached.then(() => g.stop('SIGKILL'));
    const outcomes = await loadUntil(g.port, 'crash_client', 16, killed, gate.acked);
    expect(await killed).toBe('SIGKILL');
    gateway = await startGateway(['--workers', '2', '--data-dir', dataDir]);
    // The restarted gateway continues after the last record that survived.
    const before = await consumeAll(dataDir);
    const res = await postMetrics(gateway.port, 'crash_client_0', { metrics: [{ name: 'after', value: 1 }] });
    expect(res.status).toBe(200);
    const p = partitionFor(Buffer.from('crash_client_0'), 4);
    expect(res.body.offset).toBe(before.filter((r) => r.partition === p).length);
    expect(await gateway.stop()).toBe(0);
    expectAllAcknowledgedStored(outcomes, await consumeAll(dataDir));
  });

  it('a segment truncated mid-record: refused, then (accepted) the lost offset is reported and never reused', async () => {
    const dataDir = await tempDir();
    gateway = await startGateway(['--workers', '1', '--data-dir', dataDir]);
    for (let seq = 0; seq < 20; seq++) {
      expect((await postMetrics(gateway.port, 'torn', { metrics: [{ name: 'x', value: seq }] })).status).toBe(200);
    }
    expect(await gateway.stop()).toBe(0);
    const p = partitionFor(Buffer.from('torn'), 4);
    const dir = path.join(dataDir, `partition-${p}`);
    const segment = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort().at(-1)!;
    const file = path.join(dir, segment);
    await truncate(file, (await stat(file)).size - 5);

    // Record 19 was acknowledged: losing it is not a torn write to cut quietly.
    await expect(startGateway(['--workers', '1', '--data-dir', dataDir])).rejects.toThrow(/offsets 19-19/);
    gateway = await startGateway(['--workers', '1', '--data-dir', dataDir, '--accept-data-loss']);
    const res = await postMetrics(gateway.port, 'torn', { metrics: [{ name: 'x', value: 100 }] });
    expect(res.status).toBe(200);
    expect(res.body.offset).toBe(20);
    expect(await gateway.stop()).toBe(0);
    await expect(consumeAll(dataDir)).rejects.toThrow(/offsets 19\.\.19 \(1 records\) cannot be read/);
  });
});
