import { CACHE_LINE } from '../ring/ring-descriptor.ts';
import type { DiskWorkSignal } from '../log/stall-watch.ts';

/**
 * Words the owner writes and every HTTP worker reads per request, without a message:
 * whether the sink can take writes (/readyz, 503 when not), whether the gateway is
 * shutting down, whether the sink's commit in flight is stalled, and a count of the
 * owner's disk work that the workers time themselves.
 *
 * ```
 *   byte 0    | READY     int32  1 = the sink accepts writes            |  line 0
 *       128   | DRAINING  int32  1 = shutdown began                     |  line 1
 *       256   | STALLED   int32  1 = the commit in flight is stalled    |  line 2
 *       384   | DISK_WORK int32  odd while the owner's disk work runs   |  line 3
 * ```
 *
 * Why DISK_WORK: STALLED is set by the owner thread's timers, and a write() the disk holds
 * blocks that thread, timers and all (a network volume, a full dirty cache). The owner
 * bumps DISK_WORK when its disk work begins and again when it ends; a worker that sees the
 * same odd value for longer than --disk-stall-timeout by its own clock calls it stalled.
 */
const READY = 0;
const DRAINING = CACHE_LINE / 4;
const STALLED = (2 * CACHE_LINE) / 4;
const DISK_WORK = (3 * CACHE_LINE) / 4;

export function createGatewayStateStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * CACHE_LINE);
}

export class GatewayState {
  private readonly words: Int32Array;
  private readonly diskStallMs: number;
  /** The DISK_WORK value this thread saw last, and when (its own performance.now()). */
  private seenWork = 0;
  private seenAt = 0;

  /**
   * `diskStallMs` (the workers: --disk-stall-timeout) makes `stalled` also time the
   * owner's disk work with this thread's clock; without it only STALLED counts.
   */
  constructor(storage: SharedArrayBuffer, diskStallMs = Infinity) {
    this.words = new Int32Array(storage);
    this.diskStallMs = diskStallMs;
  }
  /** Whether the sink accepted writes when the owner last looked; may be stale by a tick. */
  get ready(): boolean {
    return Atomics.load(this.words, READY) === 1;
  }
  set ready(value: boolean) {
    Atomics.store(this.words, READY, value ? 1 : 0);
  }
  /** Whether shutdown began: new writes are refused with 503. */
  get draining(): boolean {
    return Atomics.load(this.words, DRAINING) === 1;
  }
  set draining(value: boolean) {
    Atomics.store(this.words, DRAINING, value ? 1 : 0);
  }
  /**
   * Whether the sink's append in flight has waited past its stall limit (Sink.stalled;
   * stale by a tick), or, with `diskStallMs`, the owner's disk work has run that long by
   * this thread's clock (late by up to the time since this thread last looked): new
   * writes are refused with 503 rather than queued behind it.
   */
  get stalled(): boolean {
    if (Atomics.load(this.words, STALLED) === 1) return true;
    const work = Atomics.load(this.words, DISK_WORK);
    if ((work & 1) === 0 || this.diskStallMs === Infinity) return false;
    const now = performance.now();
    if (work !== this.seenWork) {
      this.seenWork = work;
      this.seenAt = now;
      return false;
    }
    return now - this.seenAt >= this.diskStallMs;
  }
  set stalled(value: boolean) {
    Atomics.store(this.words, STALLED, value ? 1 : 0);
  }

  /**
   * For the owner thread's disk work (StallWatch): the outermost begin and end of all
   * watches together bump DISK_WORK, so it is odd exactly while some work runs.
   */
  diskWorkSignal(): DiskWorkSignal {
    const words = this.words;
    let depth = 0;
    return {
      begin() {
        if (depth++ === 0) Atomics.add(words, DISK_WORK, 1);
      },
      end() {
        if (depth > 0 && --depth === 0) Atomics.add(words, DISK_WORK, 1);
      },
    };
  }
}
