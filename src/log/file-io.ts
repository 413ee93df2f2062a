/**
 * The two file steps every file of the log takes alike: a positioned write that finishes
 * what a short write left, and opening a file that may not exist yet.
 */
import { writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/**
 * Writes all of `buf` at `position` of `fd`, continuing after short writes. Synchronous on
 * purpose: a write into the page cache takes microseconds, less than the round trip to
 * libuv's thread pool and back, and it is once per commit, not per record. Only the
 * fdatasync that follows, which really waits for the disk, goes to the pool.
 */
export function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const bytesWritten = writeSync(fd, buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} at ${position + done}`);
    done += bytesWritten;
  }
}

/**
 * Opens `file` for reading and writing, creating it if it does not exist; `created` says
 * which, so that the caller fsyncs the directory (the new entry is not durable before).
 */
export async function openOrCreate(file: string): Promise<{ fh: FileHandle; created: boolean }> {
  try {
    return { fh: await open(file, 'r+'), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { fh: await open(file, 'w+'), created: true };
  }
}
