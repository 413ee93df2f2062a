/**
 * `<spill-dir>/replay-cursor.json`: per partition, the first spill offset not yet
 * confirmed by Kafka. Written after every replay batch by temp file + fsync + rename +
 * directory fsync, so a crash leaves the old cursor or the new one, never a torn file.
 * A cursor that lags (crash between Kafka's ack and the rename) only means the last
 * batch is replayed again: duplicates, never a loss.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../log/segment-files.ts';

export const REPLAY_CURSOR_FILE = 'replay-cursor.json';

interface CursorFile {
  version: 1;
  next: number[];
}

/** What `readReplayCursor` found: the cursor, and why it was set aside if it was. */
export interface SavedReplayCursor {
  next: number[];
  /**
   * Set when a cursor file exists but cannot be used (bad JSON, another partition count,
   * offsets that are not offsets): `next` is then all zeros and the spill is replayed from
   * its start, so records Kafka already holds are sent again (duplicates, never a loss).
   */
  setAside?: string;
}

/**
 * The saved cursor of `spillDir` for `partitions` partitions: zeros when there is none
 * (nothing replayed yet) or when it does not fit (see `setAside`).
 */
export async function readReplayCursor(spillDir: string, partitions: number): Promise<SavedReplayCursor> {
  const zeros = new Array<number>(partitions).fill(0);
  let text: string;
  try {
    text = await readFile(path.join(spillDir, REPLAY_CURSOR_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { next: zeros };
    throw err;
  }
  let parsed: Partial<CursorFile>;
  try {
    parsed = JSON.parse(text) as Partial<CursorFile>;
  } catch (err) {
    return { next: zeros, setAside: `not JSON (${(err as Error).message})` };
  }
  const next = parsed?.next;
  if (!Array.isArray(next)) return { next: zeros, setAside: 'no "next" array' };
  if (next.length !== partitions) return { next: zeros, setAside: `${next.length} partitions, the spill has ${partitions}` };
  if (!next.every((n) => Number.isSafeInteger(n) && n >= 0)) return { next: zeros, setAside: 'an offset that is not a non-negative integer' };
  return { next: next as number[] };
}

/** Replaces the cursor of `spillDir` with `next`, durably and atomically (see module comment). */
export async function writeReplayCursor(spillDir: string, next: ArrayLike<number>): Promise<void> {
  const file = path.join(spillDir, REPLAY_CURSOR_FILE);
  const tmp = `${file}.tmp`;
  const body: CursorFile = { version: 1, next: Array.from(next) };
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(body) + '\n');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  await rename(tmp, file);
  await fsyncDir(spillDir);
}
