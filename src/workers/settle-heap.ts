/**
 * Giving a worker's memory back (src/main/worker-memory.ts says why it matters): once
 * after it starts, and again whenever it falls quiet after serving.
 *
 * V8 sizes an isolate's heap by what it allocated lately and shrinks it only in a
 * memory-reducing GC, which nothing runs in a worker thread (the main thread has V8's
 * memory reducer; a worker does not). After a burst a worker therefore keeps its
 * high-water heap for as long as it stays idle: 2 workers held 298 MB RSS after 60 s of
 * load and still did seconds later, 184 MB once each had run one release (18-19 ms each).
 * Only memory is at stake: nothing here may stop a worker from serving.
 */

/** V8's gc extension (src/main/worker-memory.ts installs it), as the worker sees it. */
type GcExtension = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** How long a worker that served requests must be quiet before it releases its heap. */
export const HEAP_RELEASE_QUIET_MS = 10_000;

/**
 * The worker's last step of starting: flushes Node's compile cache (when one is enabled),
 * then releases the start-up garbage (module loading, bootstrap) with releaseWorkerHeap.
 */
export function settleWorkerHeap(): void {
  try {
    process.getBuiltinModule('node:module').flushCompileCache?.();
  } catch {
    // A cache that cannot be written: the worker serves as it is.
  }
  releaseWorkerHeap();
}

/**
 * Runs a last-resort GC (full, compacting, free pages returned to the system; a few ms in
 * an idle worker, some 20 ms after a burst). Returns whether it ran: false when the gc
 * extension is not installed or the GC threw.
 */
export function releaseWorkerHeap(): boolean {
  const gc = (globalThis as { gc?: GcExtension }).gc;
  if (gc === undefined) return false;
  try {
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Decides when a worker has fallen quiet: asked on a periodic tick with the worker's count
 * of answered requests, it says yes once that count has not moved for `quietMs` and has
 * moved since the last yes. So a busy worker never pauses for it, an idle one releases once
 * per quiet spell, and a worker that served nothing since it started (and settled) never.
 */
export class IdleHeapRelease {
  readonly #quietMs: number;
  /** The count at the last tick, and since when it has not moved. */
  #served = 0;
  #quietSince: number;
  /** The count at the last release (0: the start-up settle). */
  #releasedAt = 0;

  constructor(quietMs: number, now: number) {
    this.#quietMs = quietMs;
    this.#quietSince = now;
  }

  /** Whether to release now, given the answered-request count `served` at time `now` (ms). */
  due(served: number, now: number): boolean {
    if (served !== this.#served) {
      this.#served = served;
      this.#quietSince = now;
      return false;
    }
    if (served === this.#releasedAt || now - this.#quietSince < this.#quietMs) return false;
    this.#releasedAt = served;
    return true;
  }
}
