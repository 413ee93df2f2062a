/**
 * Disk full, on a real small filesystem (a 6 MiB tmpfs mounted by the test; CI runs as
 * root): every record gets 503 while no space is left (none answered 200 is lost), ENOSPC
 * is named in an error line, and once some space is freed (less than one partition's
 * written-ahead zeros) every partition resumes, not only the first one to write. A gateway
 * killed while the disk is full starts again on that full disk.
 */
import { readdir, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { partitionFor } from '../../src/records/partitioner.ts';
import { adminPortOf, consumeAll, postMetrics, startGateway, type GatewayProcess } from '../support/gateway-process.ts';
import { fillDisk, useSmallDisk } from '../support/small-disk.ts';
import { scrapeSample } from '../support/admin-scrape.ts';

const disk = useSmallDisk('6m');
let gateway: GatewayProcess | undefined;

afterAll(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

// Each test starts on an empty disk.
afterEach(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
  for (const name of await readdir(disk.dir)) await rm(path.join(disk.dir, name), { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A request answered 200: the client, the value it sent, and where the answer put it. */
interface Acked {
  client: string;
  value: number;
  partition: number;
  offset: number;
}

/** Every acknowledged record is in the log at the position its answer named. */
async function expectStored(dataDir: string, acked: Acked[]): Promise<void> {
  const stored = new Map((await consumeAll(dataDir)).map((r) => [`${r.partition}/${r.offset}`, r]));
  for (const a of acked) {
    const r = stored.get(`${a.partition}/${a.offset}`);
    expect(r?.key, `${a.client} value ${a.value} answered 200 at ${a.partition}/${a.offset}`).toBe(a.client);
    expect(r?.value.metrics[0].value).toBe(a.value);
  }
}

describe('disk full', () => {
  it('503 while full, ENOSPC named, and every partition resumes when space is freed', async () => {
    const dataDir = path.join(disk.dir, 'data');
    gateway = await startGateway(['--workers', '2', '--partitions', '4', '--data-dir', dataDir, '--admin-port', '0']);
    const g = gateway;
    const admin = adminPortOf(g);
    // One client per partition.
    const clients: string[] = [];
    for (let i = 0; clients.length < 4 && i < 1000; i++) {
      const c = `full_${i}`;
      if (!clients.some((o) => partitionFor(Buffer.from(o), 4) === partitionFor(Buffer.from(c), 4))) clients.push(c);
    }
    const acked: Acked[] = [];
    let seq = 0;
    const send = async (client: string) => {
      const s = seq++;
      const res = await postMetrics(g.port, client, { metrics: [{ name: 'disk', value: s }] });
      if (res.status === 200) acked.push({ client, value: s, partition: res.body.partition as number, offset: res.body.offset as number });
      return res.status;
    };

    const filler = path.join(disk.dir, 'filler');
    const filled = await fillDisk(filler);
    for (const c of clients) expect(await send(c)).toBe(503);
    for (let i = 0; i < 20 && !g.logs.some((l) => l.level === 50 && l.code === 'ENOSPC'); i++) await sleep(100);
    const line = g.logs.find((l) => l.level === 50 && l.code === 'ENOSPC');
    expect(line?.msg).toMatch(/^ENOSPC: write or fdatasync of a segment failed/);

    // Free 512 KiB: less than the 1 MiB of zeros the four partitions write ahead of their records.
    await truncate(filler, filled - 512 * 1024);
    const resumed = new Set<number>();
    for (let round = 0; round < 30 && resumed.size < 4; round++) {
      for (const c of clients) if ((await send(c)) === 200) resumed.add(partitionFor(Buffer.from(c), 4));
      if (resumed.size < 4) await sleep(100);
    }
    expect([...resumed].sort(), 'partitions that took records again after space was freed').toEqual([0, 1, 2, 3]);
    // Everyone keeps going.
    for (let round = 0; round < 5; round++) for (const c of clients) expect(await send(c)).toBe(200);
    expect(await scrapeSample(admin, 'metricstream_log_errors_total{kind="write"}')).toBeGreaterThanOrEqual(4);

    expect(await g.stop()).toBe(0);
    await expectStored(dataDir, acked);
  });

  it('a gateway killed while the disk is full starts again on it, and keeps every 200', async () => {
    const dataDir = path.join(disk.dir, 'data');
    const args = ['--workers', '2', '--partitions', '4', '--data-dir', dataDir];
    gateway = await startGateway(args);
    const acked: Acked[] = [];
    const send = async (g: GatewayProcess, value: number) => {
      const client = `restart_${value % 7}`;
      const res = await postMetrics(g.port, client, { metrics: [{ name: 'disk', value }] });
      if (res.status === 200) acked.push({ client, value, partition: res.body.partition as number, offset: res.body.offset as number });
      return res.status;
    };
    for (let v = 0; v < 40; v++) expect(await send(gateway, v)).toBe(200);
    const filler = path.join(disk.dir, 'filler');
    const filled = await fillDisk(filler);
    // Whatever the written-ahead zeros still take, then a crash with the disk full.
    for (let v = 40; v < 80; v++) expect([200, 503]).toContain(await send(gateway, v));
    expect(await gateway.stop('SIGKILL')).toBe('SIGKILL');

    // Starting needs no free block: the writer lock is a symbolic link, recovery writes over
    // bytes the log already has. (It failed with ENOSPC when the lock was a file.)
    gateway = await startGateway(args);
    const g = gateway;
    for (let v = 80; v < 120; v++) expect([200, 503]).toContain(await send(g, v));
    await truncate(filler, filled - 1024 * 1024);
    let v = 120;
    for (let ok = 0; ok < 20 && v < 400; v++) if ((await send(g, v)) === 200) ok++;
    expect(v, 'twenty 200s once 1 MiB was freed').toBeLessThan(400);
    expect(await g.stop()).toBe(0);

    await expectStored(dataDir, acked);
  });
});
