import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogReader } from '../../src/log/log-reader.ts';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
import { metricRecord, removeDir, tempDir } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

/** Starts the appending child, SIGKILLs it after `acks` acknowledged appends, returns them. */
function appendThenKill(acks: number): Promise<{ seqs: number[]; offsets: number[] }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', './src/main/require-node.mjs', 'test/log/fixtures/append-forever.ts', dir],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let buffered = '';
    let stderr = '';
    const acked: { seqs: number[]; offsets: number[] }[] = [];
    child.stdout.on('data', (d) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop() as string;
      for (const l of lines) acked.push(JSON.parse(l));
      if (acked.length >= acks) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child ended by itself (${code}): ${stderr}`));
      else resolve(acked);
    });
  });
}

describe('kill -9 of the writer', () => {
  it('loses no acknowledged record, and the next writer continues after them', async () => {
    const acked = await appendThenKill(300);
    expect(acked.length).toBeGreaterThanOrEqual(300);

    // Reopen (taking over the dead writer's lock): offsets continue after every ack.
    const log = await PartitionedLog.open(dir, { partitions: 3, segmentBytes: 32 * 1024 });
    const lastAcked = [-1, -1, -1];
    for (const a of acked) {
      a.seqs.forEach((seq, i) => {
        const p = seq % 3;
        lastAcked[p] = Math.max(lastAcked[p], a.offsets[i]);
      });
    }
    for (let p = 0; p < 3; p++) expect(log.nextOffset(p)).toBeGreaterThan(lastAcked[p]);
    expect(log.segmentBases(0).length).toBeGreaterThan(1);
    const after = await log.append([metricRecord(0, -1), metricRecord(1, -1), metricRecord(2, -1)]);
    expect(Array.from(after.offsets)).toEqual([0, 1, 2].map((p) => log.nextOffset(p) - 1));
    await log.close();

    // Every acknowledged record is there, at its offset, with its content.
    const reader = await LogReader.open(dir);
    const seqAt = [new Map<number, number>(), new Map<number, number>(), new Map<number, number>()];
    for (let p = 0; p < 3; p++) {
      let next = 0;
      for (;;) {
        const res = await reader.read(p, next, 500);
        if (res.records.length === 0) break;
        for (const r of res.records) seqAt[p].set(r.offset, (unpack(r.value) as { seq: number }).seq);
        next = res.nextOffset;
      }
    }
    await reader.close();
    for (const a of acked) {
      a.seqs.forEach((seq, i) => expect(seqAt[seq % 3].get(a.offsets[i])).toBe(seq));
    }
  });
});
