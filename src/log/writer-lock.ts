/**
 * `<data-dir>/writer.lock`: one writer per data dir. Two writers would hand out the same
 * offsets and overwrite each other's frames, so a second open is refused. Node has no
 * flock(), so the lock is a file naming its owner: pid plus the process start time from
 * /proc/<pid>/stat. A lock whose process is gone (kill -9, crash) is stale and taken over;
 * the start time tells a previous incarnation that got the same pid (pid 1 in a
 * container restarted at once) from a live owner or from this very process.
 *
 * Limits: two processes that find the same stale lock at the same instant may both take
 * it; and a writer in another pid namespace (two containers sharing a volume) is invisible
 * here and looks dead. Without /proc (not Linux) a same-pid owner is recognised by a start
 * time accurate to about a second.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const LOCK_FILE = 'writer.lock';

interface Holder {
  pid: number;
  /** Process start: clock ticks since boot from /proc, or "~<epoch seconds>" without /proc. */
  start: string;
}

/** Thrown when another live process or thread already writes the data dir. */
export class LogLockedError extends Error {
  override name = 'LogLockedError';
}

/** A held writer lock; release() removes it if it is still ours. */
export class WriterLock {
  readonly #file: string;
  readonly #me: Holder;

  private constructor(file: string, me: Holder) {
    this.#file = file;
    this.#me = me;
  }

  /** Takes the writer lock of `dataDir` (which must exist), or throws LogLockedError. */
  static async acquire(dataDir: string): Promise<WriterLock> {
    const file = path.join(dataDir, LOCK_FILE);
    const me: Holder = { pid: process.pid, start: processStart(process.pid) ?? approxStart() };
    // Written under a private name, then hard-linked into place: the lock appears with its
    // content or not at all (link fails if it exists), so nobody reads a half-written one.
    const tmp = `${file}.${process.pid}.${randomUUID()}`;
    await writeFile(tmp, JSON.stringify(me) + '\n');
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await link(tmp, file);
          return new WriterLock(file, me);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const holder = await readHolder(file);
        if (holder !== null && isAlive(holder, me)) {
          throw new LogLockedError(
            `data dir ${dataDir} is already open for writing by process ${holder.pid} ` +
              `(${file}); only one writer may open a data dir`,
          );
        }
        await unlink(file).catch(ignoreEnoent);
      }
    } finally {
      await unlink(tmp).catch(() => {});
    }
    throw new LogLockedError(`could not take ${file}: it keeps coming back`);
  }

  /** Removes the lock file if it is still ours. */
  async release(): Promise<void> {
    const holder = await readHolder(this.#file);
    if (holder !== null && holder.pid === this.#me.pid && holder.start === this.#me.start) {
      await unlink(this.#file).catch(ignoreEnoent);
    }
  }
}

/**
 * Start time of process `pid` in clock ticks since boot, or null when there is no such
 * live process (a zombie, killed but not yet reaped, counts as gone) or no /proc.
 */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that ends the command name: [0] is field 3 (state), [19] is
    // field 22 (starttime).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function approxStart(): string {
  return `~${Math.round(Date.now() / 1000 - process.uptime())}`;
}

async function readHolder(file: string): Promise<Holder | null> {
  try {
    const h = JSON.parse(await readFile(file, 'utf8')) as Holder;
    return Number.isInteger(h.pid) && typeof h.start === 'string' ? h : null;
  } catch {
    // Missing, or garbage from a crash while it was being written: nobody holds it.
    return null;
  }
}

function isAlive(holder: Holder, me: Holder): boolean {
  const start = processStart(holder.pid);
  if (start !== null) return start === holder.start;
  if (processStart(process.pid) !== null) return false; // /proc works: no such process
  if (holder.pid === me.pid) {
    return Math.abs(Number(holder.start.slice(1)) - Number(me.start.slice(1))) <= 2;
  }
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ignoreEnoent(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
