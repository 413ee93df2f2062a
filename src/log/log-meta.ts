/**
 * `<data-dir>/meta.json`: what a data dir was created with. The partition count is fixed
 * for the life of the dir: a client's partition is murmur2(key) % count, so opening with
 * another count would silently move clients to other partitions (and break per-client
 * order for every consumer).
 */
import { mkdir, open, readFile, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from './segment-files.ts';

export const META_FILE = 'meta.json';
const META_VERSION = 1;

/** Contents of meta.json. */
export interface LogMeta {
  version: number;
  partitions: number;
}

/** Thrown when a data dir's meta.json does not match how it is being opened. */
export class LogMetaMismatchError extends Error {
  override name = 'LogMetaMismatchError';
}

/** Reads meta.json of `dataDir`, or null when there is none (not a log dir, or a new one). */
export async function readMeta(dataDir: string): Promise<LogMeta | null> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, META_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const meta = JSON.parse(text) as Partial<LogMeta>;
  if (!Number.isInteger(meta.partitions) || (meta.partitions as number) < 1) {
    throw new Error(`${path.join(dataDir, META_FILE)}: no valid "partitions" in ${text.trim()}`);
  }
  return { version: meta.version ?? META_VERSION, partitions: meta.partitions as number };
}

/**
 * Creates `dataDir` and its meta.json for `partitions` if it has none; otherwise checks
 * that it was created with the same partition count and throws LogMetaMismatchError if not.
 * The file is written to a temporary name, fsync'd and renamed, so a crash leaves either
 * no meta.json or a whole one.
 */
export async function ensureMeta(dataDir: string, partitions: number): Promise<LogMeta> {
  const existing = await readMeta(dataDir);
  if (existing !== null) {
    if (existing.partitions !== partitions) {
      throw new LogMetaMismatchError(
        `data dir ${dataDir} was created with ${existing.partitions} partitions; refusing to open ` +
          `it with ${partitions}: every client would move to another partition. Open it with ` +
          `${existing.partitions} partitions, or use a new data dir.`,
      );
    }
    return existing;
  }
  const created = await mkdir(dataDir, { recursive: true });
  if (created !== undefined) await fsyncCreatedDirs(dataDir, created);
  // No meta.json but partition dirs (meta.json deleted, or a crash before it was renamed
  // into place): they still say how many partitions the data was written with.
  const found = (await readdir(dataDir)).filter((n) => /^partition-\d+$/.test(n)).length;
  if (found > 0 && found !== partitions) {
    throw new LogMetaMismatchError(
      `data dir ${dataDir} has no ${META_FILE} but ${found} partition directories; refusing to ` +
        `open it with ${partitions} partitions`,
    );
  }
  const meta: LogMeta = { version: META_VERSION, partitions };
  const tmp = path.join(dataDir, `${META_FILE}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(meta) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path.join(dataDir, META_FILE));
  await fsyncDir(dataDir);
  return meta;
}

/**
 * fsyncs the parent of every directory mkdir just created, from `first` (the topmost one
 * created) down to `dir`: without it a power cut can forget the new data dir itself, and
 * with it everything acknowledged inside it.
 */
async function fsyncCreatedDirs(dir: string, first: string): Promise<void> {
  const chain: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    chain.push(d);
    if (d === path.resolve(first) || path.dirname(d) === d) break;
  }
  for (const d of chain) await fsyncDir(path.dirname(d));
}
