/**
 * The disk itself loses or damages acknowledged records (the three reproductions):
 * 200 records acknowledged on one partition, then the segment truncated to 9000 bytes, or
 * one byte flipped after / before the last index entry. The gateway must never hand out
 * an acknowledged offset again, must say what was lost (refusal to start, then with
 * --accept-data-loss an error line naming partition and offsets and a counter on
 * /metrics), and the consumer must deliver every good record and report the bad ones.
 */
import { cp, readdir, rm, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INDEX_INTERVAL_BYTES } from '../../src/log/offset-index.ts';
import { partitionFor } from '../../src/records/partitioner.ts';
import { postMetrics, spawnNode, startGateway, tempDir, type ConsumedLine, type GatewayProcess } from '../support/gateway-process.ts';
import { flipByte, framePositions } from '../support/segment-damage.ts';
import { scrapeSample } from '../support/admin-scrape.ts';

const CLIENT = 'loss_client';
const PARTITION = partitionFor(Buffer.from(CLIENT), 4);

let gateway: GatewayProcess | undefined;
let pristine: string;
const dirs: string[] = [];
afterEach(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
  gateway = undefined;
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

beforeAll(async () => {
  pristine = await tempDir('metricstream-loss-');
  dirs.push(pristine);
  const g = await startGateway(['--workers', '1', '--data-dir', pristine]);
  for (let seq = 0; seq < 200; seq++) {
    const res = await postMetrics(g.port, CLIENT, { metrics: [{ name: 'x', value: seq }] });
    expect(res.body.offset).toBe(seq);
  }
  expect(await g.stop()).toBe(0);
});

/** A copy of the 200-record data dir and the path of its one segment. */
async function copyOfLog(): Promise<{ dataDir: string; segment: string }> {
  const dataDir = await tempDir('metricstream-loss-');
  dirs.push(dataDir);
  await cp(pristine, dataDir, { recursive: true });
  const dir = path.join(dataDir, `partition-${PARTITION}`);
  const segment = path.join(dir, (await readdir(dir)).filter((f) => f.endsWith('.log')).sort()[0]);
  return { dataDir, segment };
}

/** The consumer CLI over the whole log: printed records, stderr lines and exit code. */
async function consume(dataDir: string): Promise<{ lines: ConsumedLine[]; stderr: string; code: number | null }> {
  const proc = spawnNode('src/consumer/cli.ts', ['--data-dir', dataDir, '--from-beginning', '--exit-at-end']);
  const lines: ConsumedLine[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(JSON.parse(l)));
  const code = await new Promise<number | null>((resolve) => proc.once('close', resolve));
  return { lines, stderr, code };
}

/**
 * The common checks: refused without the flag (nothing changed on disk), then started
 * with it: an error line naming partition and the lost offsets, the counter on /metrics,
 * the next record at offset 200, and the consumer delivering the good records and
 * reporting the lost ones (exit 3); with `checkRestart`, a later start without the flag
 * neither refuses nor reports it again. Returns the figures for the report.
 */
async function expectLossHandled(dataDir: string, segment: string, lost: [number, number], checkRestart = false) {
  const before = (await stat(segment)).size;
  const refused = await startGateway(['--workers', '1', '--data-dir', dataDir]).then(
    (g) => {
      gateway = g;
      return null;
    },
    (err: Error) => err.message,
  );
  expect(refused).toMatch(new RegExp(`partition ${PARTITION}: offsets ${lost[0]}-${lost[1] - 1} \\(${lost[1] - lost[0]} records`));
  expect(refused).toMatch(/--accept-data-loss/);
  expect((await stat(segment)).size).toBe(before);

  gateway = await startGateway(['--workers', '1', '--data-dir', dataDir, '--accept-data-loss', '--admin-port', '0']);
  const errorLine = gateway.logs.find((l) => l.level === 50 && typeof l.msg === 'string' && l.msg.includes('acknowledged records lost'));
  expect(errorLine?.msg).toContain(`partition ${PARTITION}: acknowledged records lost: offsets ${lost[0]}-${lost[1] - 1}`);
  expect(await scrapeSample(gateway, `metricstream_log_records_lost_total{partition="${PARTITION}"}`)).toBe(lost[1] - lost[0]);
  // Never an acknowledged offset again: the next record goes after all 200.
  const next = await postMetrics(gateway.port, CLIENT, { metrics: [{ name: 'x', value: 1000 }] });
  expect(next.body.offset).toBe(200);
  expect(await gateway.stop()).toBe(0);

  const { lines, stderr, code } = await consume(dataDir);
  expect(code).toBe(3);
  expect(stderr).toContain(`partition ${PARTITION}: offsets ${lost[0]}..${lost[1] - 1} (${lost[1] - lost[0]} records) cannot be read`);
  const good = Array.from({ length: 200 }, (_, i) => i).filter((i) => i < lost[0] || i >= lost[1]);
  expect(lines.map((l) => l.offset)).toEqual([...good, 200]);
  expect(lines.map((l) => l.value.metrics[0].value)).toEqual([...good, 1000]);
  if (checkRestart) {
    // A later start knows the loss (lost-offsets.json): no refusal, no new report.
    gateway = await startGateway(['--workers', '1', '--data-dir', dataDir]);
    expect(gateway.logs.some((l) => l.level === 50)).toBe(false);
    expect(await gateway.stop()).toBe(0);
  }
  return { delivered: good.length, reported: lost[1] - lost[0], stderr: stderr.trim() };
}

describe('acknowledged records lost on disk', () => {
  it('segment truncated to 9000 bytes after 200 acknowledged records', async () => {
    const { dataDir, segment } = await copyOfLog();
    const positions = await framePositions(segment);
    await truncate(segment, 9000);
    const intact = positions.filter((p, i) => (positions[i + 1] ?? Infinity) <= 9000).length;
    const figures = await expectLossHandled(dataDir, segment, [intact, 200], true);
    console.log('truncated to 9000 bytes:', figures);
  });

  it('one flipped byte after the last index entry', async () => {
    const { dataDir, segment } = await copyOfLog();
    const positions = await framePositions(segment);
    // The index has an entry every INDEX_INTERVAL_BYTES: the last frames come after the last one.
    const target = 195;
    expect(positions[target]).toBeGreaterThan(Math.floor(positions[199] / INDEX_INTERVAL_BYTES) * INDEX_INTERVAL_BYTES);
    await flipByte(segment, positions[target] + 40);
    const figures = await expectLossHandled(dataDir, segment, [target, target + 1]);
    console.log('flipped byte after the last index entry:', figures);
  });

  it('one flipped byte before the last index entry', async () => {
    const { dataDir, segment } = await copyOfLog();
    const positions = await framePositions(segment);
    const target = 93;
    expect(positions[target]).toBeLessThan(INDEX_INTERVAL_BYTES * Math.floor(positions[199] / INDEX_INTERVAL_BYTES));
    await flipByte(segment, positions[target] + 40);
    const figures = await expectLossHandled(dataDir, segment, [target, target + 1]);
    console.log('flipped byte before the last index entry:', figures);
  });
});
