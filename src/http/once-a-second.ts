/**
 * Rate-limits a server's warnings: an attack repeats the same event thousands of times a
 * second, and a log line for each would cost more than the event.
 */
export class OncePerSecond {
  readonly #kinds = new Map<string, { last: number; count: number }>();

  /**
   * Counts one event of `kind`; returns how many there were since the last report when one
   * is due (the first of a kind, then at most one per second), else undefined.
   */
  due(kind: string, now = Date.now()): number | undefined {
    let k = this.#kinds.get(kind);
    if (k === undefined) this.#kinds.set(kind, (k = { last: 0, count: 0 }));
    k.count++;
    if (now - k.last < 1000) return undefined;
    const count = k.count;
    k.last = now;
    k.count = 0;
    return count;
  }
}
