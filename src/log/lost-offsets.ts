/**
 * `<data-dir>/lost-offsets.json`: acknowledged records that recovery found missing or
 * damaged and that an operator accepted (`--accept-data-loss`). Kept so that a later start
 * does not refuse again for the same loss, and so that the loss stays on record (the
 * gateway counts these records on /metrics at every start).
 *
 * ```json
 * {"version":1,"partitions":{"3":[{"from":104,"to":200,"reason":"...","acceptedAt":"2026-..."}]}}
 * ```
 *
 * Written to a temporary name, fsync'd, renamed, and the directory fsync'd.
 */
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { LostRange } from './recovery.ts';
import { fsyncDir } from './segment-files.ts';

export const LOST_OFFSETS_FILE = 'lost-offsets.json';

/** An accepted loss: the range and when it was accepted. */
export interface AcceptedLoss extends LostRange {
  acceptedAt: string;
}

/** Reads the accepted losses per partition; none when the file does not exist. */
export async function readLostOffsets(dataDir: string): Promise<Map<number, AcceptedLoss[]>> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, LOST_OFFSETS_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const parsed = JSON.parse(text) as { partitions?: Record<string, AcceptedLoss[]> };
  const out = new Map<number, AcceptedLoss[]>();
  for (const [p, ranges] of Object.entries(parsed.partitions ?? {})) out.set(Number(p), ranges);
  return out;
}

/** Replaces the file with `losses` (all of them, old and new), durably. */
export async function writeLostOffsets(dataDir: string, losses: Map<number, AcceptedLoss[]>): Promise<void> {
  const file = path.join(dataDir, LOST_OFFSETS_FILE);
  const tmp = `${file}.tmp`;
  const partitions = Object.fromEntries([...losses].sort((a, b) => a[0] - b[0]).map(([p, r]) => [String(p), r]));
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify({ version: 1, partitions }, null, 1) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await fsyncDir(dataDir);
}

/** Records in the accepted losses. */
export function countLost(losses: Map<number, AcceptedLoss[]>, partition: number): number {
  return (losses.get(partition) ?? []).reduce((n, r) => n + (r.to - r.from), 0);
}
