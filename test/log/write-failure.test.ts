import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogReader } from '../../src/log/log-reader.ts';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
import { removeDir, tempDir } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

function runLimited(dataDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      [
        '-c',
        'ulimit -f 64 && exec "$0" --import ./src/main/require-node.mjs test/log/fixtures/fsize-limited-writer.ts "$1"',
        process.execPath,
        dataDir,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('a failed write (EFBIG from a real file-size limit)', () => {
  it('fails only that partition, with -1 and a reason, and never reuses its offsets for other data', async () => {
    const { code, stdout, stderr } = await runLimited(dir);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout);

    expect(out.a.offsets).toEqual([...Array.from({ length: 20 }, (_, i) => i), 0]);
    expect(out.a.error).toBeUndefined();

    expect(out.b.offsets.slice(0, 60)).toEqual(Array(60).fill(-1));
    expect(out.b.offsets[60]).toBe(1); // partition 1 committed
    expect(out.b.error).toMatch(/partition 0: .*EFBIG/);
    expect(out.b.readyAfter).toBe(false);

    expect(out.c.offsets).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
    expect(out.c.error).toBeUndefined();
    expect(out.c.readyAfter).toBe(true);

    const expected = [
      ...Array.from({ length: 20 }, (_, i) => [i, i]),
      ...Array.from({ length: 10 }, (_, i) => [20 + i, 300 + i]),
    ];
    expect(out.read).toEqual(expected);

    // What survives on disk, reopened without the limit: the same, and offsets go on from 30.
    const log = await PartitionedLog.open(dir, { partitions: 2 });
    expect(log.nextOffset(0)).toBe(30);
    expect(log.nextOffset(1)).toBe(2);
    expect(log.recovery[0].truncatedBytes).toBe(0);
    await log.close();
    const reader = await LogReader.open(dir);
    const res = await reader.read(0, 0, 1000);
    expect(res.records.map((r) => [r.offset, (unpack(r.value) as { seq: number }).seq])).toEqual(expected);
    await reader.close();
  });
});
