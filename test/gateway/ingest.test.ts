import { afterEach, describe, expect, it } from 'vitest';
import { partitionFor } from '../../src/records/partitioner.ts';
import { consumeAll, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';

let gateway: GatewayProcess | undefined;
afterEach(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
  gateway = undefined;
});

interface Answer {
  client: string;
  seq: number;
  partition: number;
  offset: number;
}

/** `clients` concurrent clients, each sending `requests` sequential requests (value = seq). */
async function sendSequences(port: number, clients: number, requests: number): Promise<Answer[]> {
  const answers: Answer[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const client = `client_${c}`;
      for (let seq = 0; seq < requests; seq++) {
        const res = await postMetrics(port, client, {
          metrics: [{ name: 'cpu', value: seq, timestamp: 1_700_000_000_000 + seq, tags: { host: `h${c}` } }],
        });
        expect(res.status).toBe(200);
        expect(res.body.accepted).toBe(1);
        answers.push({ client, seq, partition: res.body.partition as number, offset: res.body.offset as number });
      }
    }),
  );
  return answers;
}

describe('gateway: HTTP workers -> rings -> owner -> partition log', () => {
  it('stores every record answered 200 at its partition and offset, in per-client order; restart continues offsets', async () => {
    const dataDir = await tempDir();
    gateway = await startGateway(['--workers', '4', '--partitions', '4', '--data-dir', dataDir]);
    const answers = await sendSequences(gateway.port, 12, 25);
    expect(await gateway.stop('SIGTERM')).toBe(0);

    const summary = gateway.logs.find((l) => l.msg === 'shutdown complete')!;
    expect(summary.records).toBe(300);
    // The kernel spread connections over several workers.
    const perWorker = summary.requestsPerWorker as number[];
    expect(perWorker).toHaveLength(4);
    expect(perWorker.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

    const stored = await consumeAll(dataDir);
    expect(stored).toHaveLength(300);
    const byPosition = new Map(stored.map((r) => [`${r.partition}/${r.offset}`, r]));
    for (const a of answers) {
      expect(a.partition).toBe(partitionFor(Buffer.from(a.client), 4));
      const r = byPosition.get(`${a.partition}/${a.offset}`);
      expect(r, `${a.client} seq ${a.seq}`).toBeDefined();
      expect(r!.key).toBe(a.client);
      expect(r!.value.metrics).toEqual([{ name: 'cpu', value: a.seq, timestamp: 1_700_000_000_000 + a.seq, tags: { host: `h${a.client.slice(7)}` } }]);
    }
    // Per-client order: a client's offsets grow with its sequence numbers.
    for (let c = 0; c < 12; c++) {
      const mine = answers.filter((a) => a.client === `client_${c}`).sort((x, y) => x.seq - y.seq);
      for (let i = 1; i < mine.length; i++) expect(mine[i].offset).toBeGreaterThan(mine[i - 1].offset);
    }
    // Offsets are dense from 0 in every partition.
    for (let p = 0; p < 4; p++) {
      const offsets = stored.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual(offsets.map((_, i) => i));
    }

    gateway = await startGateway(['--workers', '2', '--partitions', '4', '--data-dir', dataDir]);
    const again = await postMetrics(gateway.port, 'client_0', { metrics: [{ name: 'cpu', value: 1 }] });
    expect(again.status).toBe(200);
    const partition0 = partitionFor(Buffer.from('client_0'), 4);
    expect(again.body.partition).toBe(partition0);
    expect(again.body.offset).toBe(stored.filter((r) => r.partition === partition0).length);
    expect(await gateway.stop('SIGINT')).toBe(0);
  });

  it('--acks 0 answers 202 from the ring and still stores the record', async () => {
    const dataDir = await tempDir();
    gateway = await startGateway(['--workers', '2', '--acks', '0', '--data-dir', dataDir]);
    const res = await postMetrics(gateway.port, 'fast_client', { metrics: [{ name: 'm', value: 1 }, { name: 'n', value: 2 }] });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 2, partition: partitionFor(Buffer.from('fast_client'), 4) });
    expect(await gateway.stop()).toBe(0);
    const stored = await consumeAll(dataDir);
    expect(stored.map((r) => r.key)).toEqual(['fast_client']);
  });

  it('accepts msgpack bodies of the same shape', async () => {
    const { pack } = await import('msgpackr');
    const dataDir = await tempDir();
    gateway = await startGateway(['--workers', '1', '--data-dir', dataDir]);
    const res = await postMetrics(gateway.port, 'mp', pack({ metrics: [{ name: 'disk', value: 0.5, tags: { dev: 'sda' } }] }), {
      'content-type': 'application/msgpack',
    });
    expect(res.status).toBe(200);
    await gateway.stop();
    const stored = await consumeAll(dataDir);
    expect(stored[0].value).toEqual({ metrics: [{ name: 'disk', value: 0.5, tags: { dev: 'sda' } }] });
  });

  it('refuses a data dir made with another partition count, with a clear message', async () => {
    const dataDir = await tempDir();
    gateway = await startGateway(['--workers', '1', '--partitions', '4', '--data-dir', dataDir]);
    await gateway.stop();
    await expect(startGateway(['--workers', '1', '--partitions', '8', '--data-dir', dataDir])).rejects.toThrow(/partition/);
  });
});
