/**
 * A stored record a consumer cannot decode (here: the msgpackr pointer-amplification
 * value an older gateway accepted) is reported with its partition, offset and why, and
 * the consumer goes on to the next record: no "Invalid string length" crash, no
 * out-of-memory loop at every restart. Both the plain CLI and a group member.
 */
import { Packr } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConsumer } from '../../src/index.ts';
import type { ConsumedRecord } from '../../src/consumer/plain-reader.ts';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
import { ContentType, type SinkRecord } from '../../src/sink/sink.ts';
import { spawnNode } from '../support/gateway-process.ts';
import { removeDir, tempDir } from './helpers.ts';

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

const plain = new Packr({ useRecords: false });

function record(value: Uint8Array, i: number): SinkRecord {
  return { partition: 0, key: Buffer.from('k'), value, timestamp: 1_700_000_000_000 + i, contentType: ContentType.msgpack };
}

/** Partition 0: good (offset 0), the bomb (1), good (2). */
async function writeLog(): Promise<void> {
  const tags: Record<string, string> = {};
  for (let i = 0; i < 2000; i++) tags[`t${i}`] = 'v'.repeat(20);
  const bomb = new Packr({ structuredClone: true, useRecords: false }).pack({ metrics: new Array(20_000).fill({ name: 'a', value: 1, tags }) });
  const log = await PartitionedLog.open(dir, { partitions: 1 });
  await log.append([record(plain.pack({ metrics: [{ name: 'a', value: 1 }] }), 0), record(bomb, 1), record(plain.pack({ metrics: [{ name: 'b', value: 2 }] }), 2)]);
  await log.close();
}

describe('an undecodable stored record', () => {
  it('the consume CLI reports partition, offset and why, and prints the next record', async () => {
    await writeLog();
    const proc = spawnNode('src/consumer/cli.ts', ['--data-dir', dir, '--from-beginning', '--exit-at-end']);
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d) => (stdout += d));
    proc.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => proc.once('close', resolve));
    expect(code).toBe(0);
    expect(stderr).toMatch(/^consume: partition 0 offset 1: MessagePack extension type at byte \d+: only plain MessagePack is accepted/m);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.offset)).toEqual([0, 1, 2]);
    expect(lines[1].valueError).toMatch(/extension type/);
    expect(typeof lines[1].valueBase64).toBe('string');
    expect(lines[2].value).toEqual({ metrics: [{ name: 'b', value: 2 }] });
  });

  it('a group member gets it as a record with valueError and commits past it', async () => {
    await writeLog();
    const seen: ConsumedRecord[] = [];
    const consumer = createConsumer({ mode: 'log', dataDir: dir, group: 'g', fromBeginning: true, memberId: 'a', sessionTimeoutMs: 3000 });
    const run = consumer.run(async (batch) => void seen.push(...batch.records));
    const deadline = Date.now() + 20_000;
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();
    await run;
    expect(seen.map((r) => [r.offset, r.valueError === undefined])).toEqual([
      [0, true],
      [1, false],
      [2, true],
    ]);
  });
});
