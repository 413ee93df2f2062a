/**
 * Small JSON files that other processes read while we write them: every write lands
 * whole or not at all (write a private temporary, then rename or link it into place).
 */
import { randomUUID } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../../log/segment-files.ts';

function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
}

async function writeTemp(file: string, data: string, durable: boolean): Promise<string> {
  const tmp = tempName(file);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  return tmp;
}

/**
 * Replaces `file` with `data`: readers see the old or the new content, never a mix. With
 * `durable`, the file and its directory entry are fsync'd before this resolves, so the new
 * content survives a crash; without, it is only atomic (fine for leases, which a crash
 * makes meaningless anyway).
 */
export async function replaceFile(file: string, data: string, durable: boolean): Promise<void> {
  const tmp = await writeTemp(file, data, durable);
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  if (durable) await fsyncDir(path.dirname(file));
}

/**
 * Creates `file` with `data` only if it does not exist yet, atomically: link(2) of a
 * complete temporary either creates the name with the whole content or fails with EEXIST.
 * (open 'wx' would be exclusive too, but readers could see the file empty before the
 * write.) Returns false when the file already existed. The file and directory are fsync'd.
 */
export async function createFileExclusive(file: string, data: string): Promise<boolean> {
  const tmp = await writeTemp(file, data, true);
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  await fsyncDir(path.dirname(file));
  return true;
}

/** Parsed JSON of `file`, or null if it does not exist (or vanished, or is not JSON). */
export async function readJson<T>(file: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    // Only our own atomic writes create these files; garbage means someone else wrote it.
    return null;
  }
}
