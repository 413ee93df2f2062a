/**
 * What one durable commit costs the disk a benchmark's data dir is on: an append of
 * `bytes` written in place into a preallocated file, then fdatasync through libuv's pool,
 * one at a time, as the gateway's commit journal does (src/log/commit-journal.ts).
 *
 * Why a bench reports it: at acks 1 every request waits for the commit in flight to end
 * (half of one, on average) and then for its own, so with C connections the file rows can
 * answer at most C / (the no-op's time per request + 1.5 × this latency) requests/s,
 * whatever the gateway's code does (README, "What bounds the other goals").
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { writeSync } from 'node:fs';
import path from 'node:path';
import { median } from './stats.ts';

export interface SyncLatency {
  /** Where the file was (a new temporary directory under it, removed after). */
  dir: string;
  bytes: number;
  rounds: number;
  medianUs: number;
  p90Us: number;
}

/** Times `rounds` appends of `bytes`, each followed by an fdatasync, in `dir`. */
export async function measureSyncLatency(dir: string, rounds = 300, bytes = 1024): Promise<SyncLatency> {
  const tmp = await mkdtemp(path.join(dir, 'bench-sync-'));
  const fh = await open(path.join(tmp, 'journal'), 'w+');
  try {
    // Preallocated and synced first, as the journal is: the appends change no file size.
    await fh.truncate(rounds * bytes);
    await fh.sync();
    const chunk = Buffer.alloc(bytes, 0x5a);
    const took: number[] = [];
    for (let i = 0; i < rounds; i++) {
      writeSync(fh.fd, chunk, 0, bytes, i * bytes);
      const started = performance.now();
      await fh.datasync();
      took.push((performance.now() - started) * 1000);
    }
    took.sort((a, b) => a - b);
    return { dir, bytes, rounds, medianUs: median(took), p90Us: took[Math.floor(0.9 * (took.length - 1))] };
  } finally {
    await fh.close();
    await rm(tmp, { recursive: true, force: true });
  }
}
