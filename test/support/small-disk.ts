/**
 * A small real filesystem for disk-full tests: a tmpfs of a given size, mounted for a test
 * file (root needed, as CI runs; without it the test fails with the reason, never skips),
 * and a filler that takes every free byte of it.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, rmdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** The mounted tmpfs of a test file; `dir` is set once beforeAll ran. */
export interface SmallDisk {
  dir: string;
}

/**
 * Registers a beforeAll mounting a tmpfs of `size` (mount's syntax: '6m') and an afterAll
 * unmounting and removing it; call at the top level of a test file.
 */
export function useSmallDisk(size: string): SmallDisk {
  const disk: SmallDisk = { dir: '' };
  let base = '';
  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'metricstream-small-disk-'));
    disk.dir = path.join(base, 'tmpfs');
    await mkdir(disk.dir);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', disk.dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mount -t tmpfs failed (disk-full tests need root): ${r.stderr || r.error}`);
  });
  afterAll(async () => {
    spawnSync('umount', [disk.dir]);
    await rmdir(disk.dir).catch(() => {});
    await rm(base, { recursive: true, force: true });
  });
  return disk;
}

/** Appends to `file` until the filesystem is full; resolves with the file's size. */
export async function fillDisk(file: string): Promise<number> {
  const fh = await open(file, 'a');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) {
      // A short write means the last few bytes fit; the next write fails with ENOSPC.
      await fh.write(chunk);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
  return (await stat(file)).size;
}

/** Gives the mounted tmpfs of `disk` a new size (mount's syntax), keeping what it holds. */
export function resizeSmallDisk(disk: SmallDisk, size: string): void {
  const r = spawnSync('mount', ['-o', `remount,size=${size}`, disk.dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`remounting the tmpfs at ${size} failed: ${r.stderr || r.error}`);
}
