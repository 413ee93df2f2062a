import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PartitionedLog } from '../../src/log/partitioned-log.ts';
import { jsonRecord, metricRecord, removeDir, tempDir } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

function startCli(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', './src/main/require-node.mjs', 'src/consumer/cli.ts', ...args], {
    cwd: root,
  });
}

function runCli(args: string[]): Promise<{ code: number | null; lines: Line[]; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = startCli(args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, lines: parseLines(stdout) }));
  });
}

interface Line {
  partition: number;
  offset: number;
  key: string;
  timestamp: number;
  value: { seq: number; metrics: { name: string; value: number }[] };
}

/** The JSON lines of `text` (the other lines, e.g. --help's, are not records). */
function parseLines(text: string): Line[] {
  const out: Line[] = [];
  for (const l of text.split('\n')) {
    try {
      out.push(JSON.parse(l) as Line);
    } catch {
      // not a record line
    }
  }
  return out;
}

/** 3 partitions: partition p gets msgpack records seq p*100.. and one JSON record at the end. */
async function writeSample(): Promise<void> {
  const log = await PartitionedLog.open(dir, { partitions: 3 });
  for (let round = 0; round < 4; round++) {
    await log.append([0, 1, 2, 0, 1, 2].map((p, i) => metricRecord(p, p * 100 + round * 2 + (i >= 3 ? 1 : 0))));
  }
  await log.append([jsonRecord(0, 8), jsonRecord(2, 208)]);
  await log.close();
}

function byPartition(lines: Line[]): Map<number, Line[]> {
  const m = new Map<number, Line[]>();
  for (const l of lines) m.set(l.partition, [...(m.get(l.partition) ?? []), l]);
  return m;
}

describe('consumer CLI', () => {
  it('--from-beginning --exit-at-end prints every record as a JSON line, in order per partition', async () => {
    await writeSample();
    const { code, lines, stderr } = await runCli(['--data-dir', dir, '--from-beginning', '--exit-at-end']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines.length).toBe(26);
    const parts = byPartition(lines);
    expect(parts.get(0)!.map((l) => l.value.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parts.get(1)!.map((l) => l.value.seq)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    expect(parts.get(2)!.map((l) => l.value.seq)).toEqual([200, 201, 202, 203, 204, 205, 206, 207, 208]);
    for (const [p, ls] of parts) expect(ls.map((l) => l.offset)).toEqual(ls.map((_, i) => i));
    const first = parts.get(1)![0];
    expect(Object.keys(first).sort()).toEqual(['key', 'offset', 'partition', 'timestamp', 'value']);
    expect(first).toMatchObject({ partition: 1, offset: 0, key: 'client-1', timestamp: 1_700_000_000_100 });
    expect(first.value.metrics[0]).toMatchObject({ name: 'cpu', value: 100 });
    // The JSON-encoded record decodes too.
    expect(parts.get(2)!.at(-1)).toMatchObject({ key: 'json-client-2', value: { metrics: [{ name: 'mem', value: 208 }] } });
  });

  it('--max-records stops after that many records', async () => {
    await writeSample();
    const { code, lines } = await runCli(['--data-dir', dir, '--from-beginning', '--exit-at-end', '--max-records', '5']);
    expect(code).toBe(0);
    expect(lines.length).toBe(5);
    for (const ls of byPartition(lines).values()) expect(ls.map((l) => l.offset)).toEqual(ls.map((_, i) => i));
  });

  it('without --from-beginning starts at the end', async () => {
    await writeSample();
    const { code, lines } = await runCli(['--data-dir', dir, '--exit-at-end']);
    expect(code).toBe(0);
    expect(lines).toEqual([]);
  });

  it('follows the tail of a live writer until SIGTERM', async () => {
    const log = await PartitionedLog.open(dir, { partitions: 2 });
    await log.append([metricRecord(0, 0), metricRecord(1, 100)]);
    const child = startCli(['--data-dir', dir, '--from-beginning']);
    let stdout = '';
    const waitForLines = (n: number) =>
      new Promise<Line[]>((resolve, reject) => {
        const check = () => {
          const lines = parseLines(stdout.slice(0, stdout.lastIndexOf('\n') + 1));
          if (lines.length >= n) {
            child.stdout.off('data', onData);
            resolve(lines);
          }
        };
        const onData = (d: Buffer) => {
          stdout += d;
          check();
        };
        child.stdout.on('data', onData);
        child.once('close', (code) => reject(new Error(`consumer exited (${code}) early`)));
        check();
      });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      expect((await waitForLines(2)).length).toBe(2);
      await log.append([metricRecord(1, 101), metricRecord(0, 1), metricRecord(1, 102)]);
      const lines = await waitForLines(5);
      const parts = byPartition(lines);
      expect(parts.get(0)!.map((l) => [l.offset, l.value.seq])).toEqual([[0, 0], [1, 1]]);
      expect(parts.get(1)!.map((l) => [l.offset, l.value.seq])).toEqual([[0, 100], [1, 101], [2, 102]]);
    } finally {
      child.kill('SIGTERM');
      await log.close();
    }
    expect(await exited).toBe(0);
  });

  it('rejects unknown flags with a message and a non-zero exit, and has --help', async () => {
    const bad = await runCli(['--data-dir', dir, '--from-the-start']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from-the-start/);
    const badCount = await runCli(['--max-records', 'lots']);
    expect(badCount.code).toBe(2);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--from-beginning/);
  });

  it('exits non-zero with a clear message when the data dir holds no log', async () => {
    const { code, stderr } = await runCli(['--data-dir', dir, '--exit-at-end']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/no partition log/);
  });
});
