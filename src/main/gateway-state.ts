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
 *       260   | FOUND     int32  the DISK_WORK value a worker found     |
 *             |                  stalled (0: none)                    |
 *       384   | DISK_WORK int32  odd while the owner's disk work runs   |  line 3
 *       392   | BEGAN     int64  process.hrtime.bigint() when it began  |
 *       400   | BEAT      int64  hrtime of the owner loop's last tick   |
 *       408   | REPORTED  int32  the DISK_WORK value a worker reported  |
 *             |                  as holding the owner thread          |
 * ```
 *
 * Why DISK_WORK: STALLED is set by the owner thread's timers, and a write() the disk holds
 * blocks that thread, timers and all (a network volume, a full dirty cache). The owner
 * stores BEGAN and then bumps DISK_WORK when its disk work begins, and bumps it again when
 * it ends; a worker's timer that sees an odd value reads how long ago it began (the
 * monotonic clock every thread of the process shares) and calls it stalled past
 * --disk-stall-timeout. It stores that value in FOUND, so every worker agrees from the
 * first look by any of them (each looks a few times per limit, at its own moments: one
 * worker answered 503 while another still queued requests behind the stall), until
 * DISK_WORK moves on. FOUND sits beside STALLED, away from DISK_WORK's line, which the
 * owner writes twice per commit: a request reads DISK_WORK only while FOUND is set.
 *
 * Why BEAT and REPORTED: while the disk holds the owner thread, that thread can neither
 * log the stall nor serve /metrics or SIGTERM, and nobody would say why. Its readiness
 * tick stamps BEAT; a worker that finds disk work stalled and no tick for OWNER_HELD_MS
 * claims REPORTED for that work with a compare-and-swap, so one line is written per
 * stall, by whichever worker looks first.
 */
const READY = 0;
const DRAINING = CACHE_LINE / 4;
const STALLED = (2 * CACHE_LINE) / 4;
const FOUND = STALLED + 1;
const DISK_WORK = (3 * CACHE_LINE) / 4;
/** In 64-bit words: the 8 bytes after DISK_WORK's word and its padding. */
const BEGAN = (3 * CACHE_LINE + 8) / 8;
const BEAT = (3 * CACHE_LINE + 16) / 8;
const REPORTED = (3 * CACHE_LINE + 24) / 4;
/** The owner ticks every 200 ms (gateway.ts); five missed ticks and it is held, not busy. */
export const OWNER_HELD_MS = 1000;

/** Told once per stall that holds the owner thread: how long its disk work and its silence have lasted. */
export type OwnerHeldReport = (diskWorkMs: number, silentMs: number) => void;

export function createGatewayStateStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * CACHE_LINE);
}

export class GatewayState {
  private readonly words: Int32Array;
  private readonly clocks: BigInt64Array;
  private readonly diskStallMs: number;
  /** The DISK_WORK value this thread saw last, and when that work began (its performance.now()). */
  private seenWork = 0;
  private seenBegan = 0;
  private readonly onOwnerHeld: OwnerHeldReport | undefined;

  /**
   * `diskStallMs` (the workers: --disk-stall-timeout) makes `stalled` also say whether the
   * owner's disk work has run that long, checked by a timer of this thread a few times per
   * limit (as StallWatch does; a clock read per request cost 3 % of the requests/s); without
   * it only STALLED counts. `onOwnerHeld`, with it: told when that work also holds the
   * owner thread (no tick for OWNER_HELD_MS), once per stall among all threads.
   */
  constructor(storage: SharedArrayBuffer, diskStallMs = Infinity, onOwnerHeld?: OwnerHeldReport) {
    this.words = new Int32Array(storage);
    this.clocks = new BigInt64Array(storage);
    this.diskStallMs = diskStallMs;
    this.onOwnerHeld = onOwnerHeld;
    if (diskStallMs === Infinity) return;
    setInterval(() => this.checkDiskWork(), Math.max(10, Math.min(1000, diskStallMs / 4))).unref();
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
   * stale by a tick), or the owner's disk work has run past a worker's `diskStallMs` (seen
   * late by up to a quarter of the limit, by whichever worker looked first; no longer from
   * the moment that work ends): new writes are refused with 503 rather than queued behind it.
   */
  get stalled(): boolean {
    const words = this.words;
    if (Atomics.load(words, STALLED) === 1) return true;
    const found = Atomics.load(words, FOUND);
    return found !== 0 && Atomics.load(words, DISK_WORK) === found;
  }
  set stalled(value: boolean) {
    Atomics.store(this.words, STALLED, value ? 1 : 0);
  }

  /**
   * Looks whether the owner's disk work in flight, if any, has run past `diskStallMs`; run
   * by this thread's timer (public for tests).
   */
  checkDiskWork(): void {
    const words = this.words;
    const work = Atomics.load(words, DISK_WORK);
    // A stall found earlier ended: clear it, so requests stop reading DISK_WORK.
    const found = Atomics.load(words, FOUND);
    if (found !== 0 && found !== work) Atomics.compareExchange(words, FOUND, found, 0);
    if ((work & 1) === 0) return;
    const now = performance.now();
    if (work !== this.seenWork) {
      // BEGAN may already be a later work's (never an earlier one's): a stall is then seen late.
      this.seenWork = work;
      this.seenBegan = now - Number(process.hrtime.bigint() - Atomics.load(this.clocks, BEGAN)) / 1e6;
    }
    if (now - this.seenBegan < this.diskStallMs) return;
    // Should the work end meanwhile, FOUND differs from DISK_WORK at once, and is cleared above.
    Atomics.store(words, FOUND, work);
    if (this.onOwnerHeld === undefined) return;
    const silentMs = Number(process.hrtime.bigint() - Atomics.load(this.clocks, BEAT)) / 1e6;
    if (silentMs < OWNER_HELD_MS) return;
    const reported = Atomics.load(words, REPORTED);
    if (reported === work || Atomics.compareExchange(words, REPORTED, reported, work) !== reported) return;
    this.onOwnerHeld(now - this.seenBegan, silentMs);
  }

  /** The owner loop's tick (its readiness timer): its thread runs. */
  beat(): void {
    Atomics.store(this.clocks, BEAT, process.hrtime.bigint());
  }

  /**
   * For the owner thread's disk work (StallWatch): the outermost begin and end of all
   * watches together bump DISK_WORK, so it is odd exactly while some work runs.
   */
  diskWorkSignal(): DiskWorkSignal {
    const { words, clocks } = this;
    let depth = 0;
    return {
      begin() {
        if (depth++ > 0) return;
        Atomics.store(clocks, BEGAN, process.hrtime.bigint());
        Atomics.add(words, DISK_WORK, 1);
      },
      end() {
        if (depth > 0 && --depth === 0) Atomics.add(words, DISK_WORK, 1);
      },
    };
  }
}
