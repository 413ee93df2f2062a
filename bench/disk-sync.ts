/**
 * `npm run bench:disk-sync`: what one durable commit costs the disk a data dir is on: an
 * append of `bytes` written in place over zeros written beforehand, then fdatasync through
 * libuv's pool, as the gateway's commit journal does (src/log/commit-journal.ts).
 *
 *   npm run bench:disk-sync -- [--dir DIR,...] [--depth 1,2,3] [--rounds 1000] [--bytes 1024]
 *
 * ```
 *   lane 1: write ─ fdatasync ─ write ─ fdatasync ─ …   ┐ --depth lanes at once, one file,
 *   lane 2: write ─ fdatasync ─ write ─ fdatasync ─ …   ┘ each append after the last one
 * ```
 *
 * Why the benches report it: at acks 1 every request waits for the commit in flight to end
 * (half of one, on average) and then for its own, so with C connections the file rows can
 * answer at most C / (the no-op's time per request + 1.5 × this latency) requests/s,
 * whatever the gateway's code does (README, "What bounds the other goals"). Depth 2 is a
 * pipelined commit (the next one's sync issued while one is in flight): it pays only if
 * two syncs at once take not much longer than one.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { parseInteger, UsageError } from '../src/cli/args.ts';
import { writeAll } from '../src/log/file-io.ts';
import { ZEROS } from '../src/log/preallocation.ts';
import { median } from './stats.ts';

export interface SyncLatency {
  /** Where the file was (a new temporary directory under it, removed after). */
  dir: string;
  bytes: number;
  /** fdatasyncs in flight at once. */
  depth: number;
  rounds: number;
  medianUs: number;
  p90Us: number;
  syncsPerSecond: number;
}

/** Times `rounds` appends of `bytes` in `dir`, each followed by an fdatasync, `depth` at once. */
export async function measureSyncLatency(dir: string, rounds = 300, bytes = 1024, depth = 1): Promise<SyncLatency> {
  const tmp = await mkdtemp(path.join(dir, 'bench-sync-'));
  const fh = await open(path.join(tmp, 'journal'), 'w+');
  try {
    // Zeros written and synced first, as the journal writes them ahead of its entries: the
    // appends then overwrite allocated blocks and change no size, so the flush carries no
    // metadata (a sparse file, from truncate, would make every sync commit ext4's journal).
    for (let at = 0; at < rounds * bytes; at += ZEROS.length) writeAll(fh.fd, ZEROS.subarray(0, Math.min(ZEROS.length, rounds * bytes - at)), at);
    await fh.sync();
    const chunk = Buffer.alloc(bytes, 0x5a);
    const took: number[] = [];
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < rounds) {
        writeAll(fh.fd, chunk, next++ * bytes);
        const started = performance.now();
        await fh.datasync();
        took.push((performance.now() - started) * 1000);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: depth }, lane));
    const seconds = (performance.now() - started) / 1000;
    took.sort((a, b) => a - b);
    return { dir, bytes, depth, rounds, medianUs: median(took), p90Us: took[Math.floor(0.9 * (took.length - 1))], syncsPerSecond: rounds / seconds };
  } finally {
    await fh.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** One line of a SyncLatency, as the benches print it. */
export function describeSyncLatency(s: SyncLatency): string {
  return `fdatasync after a ${s.bytes}-byte append in ${s.dir}, ${s.depth} at once: median ${s.medianUs.toFixed(0)} µs, p90 ${s.p90Us.toFixed(0)} µs, ${Math.round(s.syncsPerSecond)} syncs/s (${s.rounds})`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: `${os.tmpdir()},/dev/shm` },
      depth: { type: 'string', default: '1,2,3' },
      rounds: { type: 'string', default: '1000' },
      bytes: { type: 'string', default: '1024' },
      repeat: { type: 'string', default: '2' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: npm run bench:disk-sync -- [--dir DIR,...] [--depth 1,2,3] [--rounds 1000] [--bytes 1024] [--repeat 2]');
    process.exit(0);
  }
  let depths: number[], rounds: number, bytes: number, repeat: number;
  try {
    depths = values.depth.split(',').map((d) => parseInteger('depth', d, 1, 64));
    rounds = parseInteger('rounds', values.rounds, 1, 1_000_000);
    bytes = parseInteger('bytes', values.bytes, 1, 64 << 20);
    repeat = parseInteger('repeat', values.repeat, 1, 100);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`bench:disk-sync: ${e.message}`);
    process.exit(2);
  }
  console.log(`bench:disk-sync, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  // Depths in turns, repeated: drift of a shared machine hits every depth alike.
  for (const dir of values.dir.split(',')) {
    for (let r = 0; r < repeat; r++) for (const depth of depths) console.log(describeSyncLatency(await measureSyncLatency(dir, rounds, bytes, depth)));
  }
}
