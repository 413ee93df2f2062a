/**
 * `<data-dir>/writer.lock`: one writer per data dir. Two writers would hand out the same
 * offsets and overwrite each other's frames, so a second open is refused. Node has no
 * flock(), so the lock is a symbolic link naming its owner: pid plus the process start
 * time from /proc/<pid>/stat, as the link's target (`{"pid":…,"start":"…"}`). A lock whose
 * process is gone (kill -9, crash, power cut) is stale and taken over. The start time tells
 * a live process that got a dead holder's pid from the holder itself. A lock naming this
 * process's own pid is held only if this thread took it and has not released it: no other
 * live process has that pid, so it is a previous incarnation's (pid 1 in a container
 * restarted at once, or the same pid at the same tick after a reboot, which the start time
 * alone cannot tell apart).
 *
 * Why a link and not a file with the owner in it: symlink() creates it with its content in
 * one step (it exists whole or not at all, and fails if it exists), and a target this short
 * is kept in the inode (ext4's and tmpfs's "fast" links), so taking the lock needs no free
 * data block. A gateway killed while its disk was full can then start again on that full
 * disk, recover, and answer 503 until there is room, instead of failing to start with
 * ENOSPC. A lock file written by an older version (a regular file holding the same JSON)
 * is still read.
 *
 * Limits: two processes that find the same stale lock at the same instant may both take
 * it; a writer in another pid namespace (two containers sharing a volume) is invisible
 * here and looks dead; and within one process the lock is per thread (only the owner's
 * thread opens logs).
 */
import { readFileSync } from 'node:fs';
import { readFile, readlink, symlink, unlink } from 'node:fs/promises';
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

/** The lock files this thread holds (the log's, and in Kafka mode the spill's and the dead letters'). */
const heldHere = new Set<string>();

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
    const file = path.resolve(dataDir, LOCK_FILE);
    const me: Holder = { pid: process.pid, start: processStart(process.pid) ?? approxStart() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await symlink(JSON.stringify(me), file);
        heldHere.add(file);
        return new WriterLock(file, me);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readHolder(file);
      if (holder !== null && isAlive(holder, file)) {
        throw new LogLockedError(
          `data dir ${dataDir} is already open for writing by process ${holder.pid} ` +
            `(${file}); only one writer may open a data dir`,
        );
      }
      await unlink(file).catch(ignoreEnoent);
    }
    throw new LogLockedError(`could not take ${file}: it keeps coming back`);
  }

  /** Removes the lock file if it is still ours. */
  async release(): Promise<void> {
    heldHere.delete(this.#file);
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

/** The holder a lock names: its link's target, or the content of an older version's file. */
async function readHolder(file: string): Promise<Holder | null> {
  try {
    const named = await readlink(file, 'utf8').catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EINVAL') return readFile(file, 'utf8'); // a regular file: an older version's lock
      throw err;
    });
    const h = JSON.parse(named) as Holder;
    return Number.isInteger(h.pid) && typeof h.start === 'string' ? h : null;
  } catch {
    // Missing, or garbage (an older version's file cut short by a crash): nobody holds it.
    return null;
  }
}

/** Whether the process `holder` names still holds `file`. */
function isAlive(holder: Holder, file: string): boolean {
  if (holder.pid === process.pid) return heldHere.has(file);
  const start = processStart(holder.pid);
  if (start !== null) return start === holder.start;
  if (processStart(process.pid) !== null) return false; // /proc works: no such process
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
