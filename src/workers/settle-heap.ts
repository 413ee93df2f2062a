/**
 * Giving a worker's memory back (src/main/worker-memory.ts says why it matters): once
 * after it starts, again whenever it falls quiet after serving, and the buffers of the
 * requests it answers while it serves (DroppedBuffers).
 *
 * V8 sizes an isolate's heap by what it allocated lately and shrinks it only in a
 * memory-reducing GC, which nothing runs in a worker thread (the main thread has V8's
 * memory reducer; a worker does not). After a burst a worker therefore keeps its
 * high-water heap for as long as it stays idle: 2 workers held 298 MB RSS after 60 s of
 * load and still did seconds later, 184 MB once each had run one release (18-19 ms each).
 * Only memory is at stake: nothing here may stop a worker from serving.
 */

/** V8's gc extension (src/main/worker-memory.ts installs it), as the worker sees it. */
type GcExtension = (options: { type: 'major' | 'minor'; execution: 'sync'; flavor?: 'last-resort' }) => void;

/**
 * How long a worker that served requests must be quiet before it releases its heap, by
 * default (--heap-release-after). Minutes, not seconds: the release resets V8's heap
 * limits, so the next burst starts with a small heap and pays for growing it again with
 * collections (three gateways interleaved, 3 s bursts of 100 metrics per request after
 * 18 s of quiet: with a release after 10 s, 0.75x the requests/s and p99 13.5 against
 * 8.4 ms; bench/ISSUE-15.md, thirteenth round). Agents that send every 10 to 60 s
 * (Telegraf's flush_interval, the OpenTelemetry SDK's 60 s export interval) must not pay
 * that on every batch; a gateway that really fell idle still gives its memory back.
 */
export const DEFAULT_HEAP_RELEASE_AFTER_MS = 5 * 60_000;

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
  return runGc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/** Runs V8's gc extension in this thread; false when it is not installed or the GC threw. */
function runGc(options: Parameters<GcExtension>[0]): boolean {
  const gc = (globalThis as { gc?: GcExtension }).gc;
  if (gc === undefined) return false;
  try {
    gc(options);
    return true;
  } catch {
    return false; // memory only: serving goes on
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

/** Bytes of answered requests' buffers between two scavenges run by DroppedBuffers: 16 MiB. */
export const DROPPED_BYTES_PER_SCAVENGE = 16 << 20;

/** Bytes of refused bodies between two full GCs run by DroppedBuffers: 16 MiB. */
export const REFUSED_BYTES_PER_FULL_GC = 16 << 20;

export type Collection = 'scavenge' | 'full';

/**
 * Frees a worker's dropped request buffers soon after it answered, so that its memory
 * follows what it holds (--max-inflight-bytes), not when V8 next looks.
 *
 * Bodies live outside the V8 heap (socket reads, decompressed chunks: malloc'd backing
 * stores behind small JS objects). Answering drops them, but they are freed only when a GC
 * finds those objects dead, and a worker fed large or compressed bodies allocates so few
 * JS objects that V8 waits for tens of MB of them before collecting. Each worker thread
 * allocates from its own malloc arena, which keeps the pages of that high-water mark after
 * the free (fragmented, not trimmed): with 16 workers, 8,000 zstd bombs from 4 clients
 * took the gateway from 243 MB to 1,246 MB RSS, and it stayed at 1,069 MB once idle.
 *
 * - Every DROPPED_BYTES_PER_SCAVENGE bytes released: a scavenge (about 0.3 ms), which
 *   frees young buffers. Some 1,600 bodies of 100 JSON metrics apart: free.
 * - Every REFUSED_BYTES_PER_FULL_GC bytes of refused bodies (413, 400: zip bombs, garbage):
 *   a full GC (5-10 ms). The buffers zlib decoded outlive scavenges (its objects hold
 *   them), and bodies refused in bulk are where memory is attacked. The pauses cost the
 *   good clients of an attacked worker latency (README, "Hostile bodies and memory").
 */
export class DroppedBuffers {
  readonly #collect: (type: 'minor' | 'major') => boolean;
  readonly #counted: (collection: Collection) => void;
  #dropped = 0;
  #refused = 0;

  /**
   * `collect` runs a GC (false when none ran); `counted` is told of each one that ran.
   * Tests pass both; a worker passes `counted` alone and gets V8's gc extension.
   */
  constructor(counted: (collection: Collection) => void, collect: (type: 'minor' | 'major') => boolean = (type) => runGc({ type, execution: 'sync' })) {
    this.#counted = counted;
    this.#collect = collect;
  }

  /** `bytes` held for a request were released: its buffers are garbage now. */
  dropped(bytes: number): void {
    this.#dropped += bytes;
    if (this.#dropped < DROPPED_BYTES_PER_SCAVENGE) return;
    this.#dropped = 0;
    if (this.#collect('minor')) this.#counted('scavenge');
  }

  /** A body of `bytes` (received and decoded) was refused: counts towards a full GC. */
  refused(bytes: number): void {
    this.#refused += bytes;
    if (this.#refused < REFUSED_BYTES_PER_FULL_GC) return;
    this.#refused = 0;
    this.#dropped = 0; // a full GC frees the young generation too
    if (this.#collect('major')) this.#counted('full');
  }
}
