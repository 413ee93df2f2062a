/**
 * Micro-benchmark of the partition log's group commit.
 *
 *   node_modules/.bin/node bench/log-append.ts [--partitions N] [--seconds S] [--dir D]
 *   node_modules/.bin/node bench/log-append.ts --io      # raw write strategies compared
 *
 * Default mode: LogSink.append throughput for batches of 1, 16, 256 and 4096 records of
 * 1 KiB (value) spread over N partitions (default 1), each batch awaited before the next
 * (as the owner thread does). Each figure is the median of 5 runs of S seconds (default 1)
 * in a fresh log under the OS temp dir (or --dir: put it on the disk you care about).
 *
 * --io mode: one write + fdatasync per batch with (a) the frames copied into one buffer and
 * FileHandle.write, (b) the same with callback fs.write/fs.fdatasync, (c) fs.writev of the
 * per-record buffers (no copy), for 1..5000 records of 200 B..2 KiB; µs per batch, median of 5.
 */
import fs from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LogSink } from '../src/log/log-sink.ts';
import { partitionFor } from '../src/records/partitioner.ts';
import { ContentType } from '../src/sink/sink.ts';
import type { SinkRecord } from '../src/sink/sink.ts';

const { values: args } = parseArgs({
  options: {
    partitions: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '1' },
    dir: { type: 'string' },
    io: { type: 'boolean', default: false },
  },
});
const baseDir = args.dir ?? os.tmpdir();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function makeRecords(count: number, valueBytes: number, partitions: number): SinkRecord[] {
  const enc = new TextEncoder();
  return Array.from({ length: count }, (_, i) => {
    const key = enc.encode(`client-${i % 1000}`);
    const value = new Uint8Array(valueBytes);
    for (let j = 0; j < valueBytes; j++) value[j] = (i * 31 + j) & 0xff;
    return { partition: partitionFor(key, partitions), key, value, timestamp: Date.now(), contentType: ContentType.msgpack };
  });
}

interface Run {
  recordsPerSec: number;
  mbPerSec: number;
  fsyncsPerSec: number;
  usPerAppend: number;
}

async function runSink(batchSize: number, partitions: number, seconds: number): Promise<Run> {
  const dir = await mkdtemp(path.join(baseDir, 'bench-log-'));
  const sink = new LogSink({ dataDir: dir, partitions });
  await sink.open();
  const batch = makeRecords(batchSize, 1024, partitions);
  const touched = new Set(batch.map((r) => r.partition)).size;
  const frameBytes = batch.reduce((s, r) => s + 36 + r.key.length + r.value.length, 0);
  let appends = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  while (appends < 20 || process.hrtime.bigint() < deadline) {
    const res = await sink.append(batch);
    if (res.error !== undefined) throw new Error(res.error);
    appends++;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await sink.close();
  await rm(dir, { recursive: true, force: true });
  return {
    recordsPerSec: (appends * batchSize) / secs,
    mbPerSec: (appends * frameBytes) / secs / (1024 * 1024),
    fsyncsPerSec: (appends * touched) / secs,
    usPerAppend: (secs / appends) * 1e6,
  };
}

async function sinkBench(): Promise<void> {
  const partitions = Number(args.partitions);
  const seconds = Number(args.seconds);
  console.log(`LogSink.append, 1 KiB values, ${partitions} partition(s), median of 5 x ${seconds}s, dir ${baseDir}`);
  console.log('batch  records/s     MB/s   fdatasync/s   µs/append');
  for (const batchSize of [1, 16, 256, 4096]) {
    const runs: Run[] = [];
    for (let i = 0; i < 5; i++) runs.push(await runSink(batchSize, partitions, seconds));
    const m = (f: (r: Run) => number) => median(runs.map(f));
    console.log(
      `${String(batchSize).padStart(5)}  ${m((r) => r.recordsPerSec).toFixed(0).padStart(9)}  ` +
        `${m((r) => r.mbPerSec).toFixed(1).padStart(7)}  ${m((r) => r.fsyncsPerSec).toFixed(0).padStart(12)}  ` +
        `${m((r) => r.usPerAppend).toFixed(0).padStart(10)}`,
    );
  }
}

const cb = <T>(fn: (done: (err: Error | null, v?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

async function ioRun(variant: string, bufs: Buffer[], iterations: number, dir: string): Promise<number> {
  const file = path.join(dir, `${variant}.bin`);
  const fh = await open(file, 'w+');
  const total = bufs.reduce((s, b) => s + b.length, 0);
  let pos = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    if (variant === 'writev') {
      await cb<number>((d) => fs.writev(fh.fd, bufs, pos, d));
      await cb<void>((d) => fs.fdatasync(fh.fd, d));
    } else {
      const one = Buffer.allocUnsafe(total);
      let o = 0;
      for (const b of bufs) {
        one.set(b, o);
        o += b.length;
      }
      if (variant === 'filehandle') {
        await fh.write(one, 0, total, pos);
        await fh.datasync();
      } else {
        await cb<number>((d) => fs.write(fh.fd, one, 0, total, pos, d));
        await cb<void>((d) => fs.fdatasync(fh.fd, d));
      }
    }
    pos += total;
  }
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / iterations;
  await fh.close();
  await rm(file, { force: true });
  return us;
}

async function ioBench(): Promise<void> {
  const dir = await mkdtemp(path.join(baseDir, 'bench-io-'));
  const variants = ['filehandle', 'callback', 'writev'];
  console.log(`one write + fdatasync per batch, µs per batch (median of 5), dir ${baseDir}`);
  console.log(`records  bytes  ${variants.map((v) => v.padStart(10)).join(' ')}`);
  try {
    for (const size of [200, 1024, 2048]) {
      for (const n of [1, 16, 256, 1024, 5000]) {
        const bufs = Array.from({ length: n }, () => Buffer.alloc(size, 7));
        const iterations = n >= 1024 ? 20 : 100;
        const cells: string[] = [];
        for (const v of variants) {
          const runs: number[] = [];
          for (let i = 0; i < 5; i++) runs.push(await ioRun(v, bufs, iterations, dir));
          cells.push(median(runs).toFixed(0).padStart(10));
        }
        console.log(`${String(n).padStart(7)}  ${String(size).padStart(5)}  ${cells.join(' ')}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await (args.io ? ioBench() : sinkBench());
