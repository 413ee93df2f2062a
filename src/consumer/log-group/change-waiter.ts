/**
 * Waiting at the end of the log without busy polling: fs.watch on the data dir (the
 * writer rewrites `commit-marks` in place after every durable append, which inotify
 * reports there) and on whatever else the caller wakes us for, with a fallback poll for
 * filesystems that report nothing (network mounts, containers without inotify).
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';

/** Wakes a waiting reader on file events, on wake(), or after at most maxWaitMs. */
export class ChangeWaiter {
  readonly #maxWaitMs: number;
  #seq = 0;
  #wakers: (() => void)[] = [];
  #watchers: FSWatcher[] = [];

  constructor(dirs: string[], maxWaitMs: number) {
    this.#maxWaitMs = maxWaitMs;
    for (const dir of dirs) {
      try {
        const w = watch(dir, () => this.wake());
        w.on('error', () => w.close()); // the poll still runs
        this.#watchers.push(w);
      } catch {
        // no inotify: the poll alone
      }
    }
  }

  /**
   * Counts changes: take it before looking for records, pass it to wait(), and a change
   * that happened in between is not slept through.
   */
  get seq(): number {
    return this.#seq;
  }

  /** Something changed: wake the waiter. */
  wake(): void {
    this.#seq++;
    const w = this.#wakers;
    this.#wakers = [];
    for (const f of w) f();
  }

  /** Resolves at the next change after `seen` (at once if there was one), or after maxWaitMs. */
  wait(seen: number): Promise<void> {
    if (this.#seq !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#maxWaitMs);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.#wakers = self.#wakers.filter((f) => f !== done);
        resolve();
      }
      this.#wakers.push(done);
    });
  }

  /** Stops watching and releases any waiter. */
  close(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    this.wake();
  }
}
