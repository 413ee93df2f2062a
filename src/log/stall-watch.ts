/**
 * Notices disk work that neither returns nor fails: a failing device or a hung network
 * volume holds a write or an fdatasync in the kernel, and no error ever comes. The code
 * doing the work marks it begun and ended; a timer looks a few times per limit (a timer
 * per operation would cost every commit; a stall is rare, and a second late is soon enough
 * to report it). Used by PartitionedLog for its appends and by Kafka mode's FallbackSink
 * for the spill's other disk steps.
 */
/**
 * Told when a watch's outermost work begins and ends, for a thread that times the work
 * with its own clock: the thread doing the work may be the one the disk holds (a write()
 * blocks it, and this watch's timer with it). src/main/gateway-state.ts.
 */
export interface DiskWorkSignal {
  begin(): void;
  end(): void;
}

export class StallWatch {
  readonly #limitMs: number;
  readonly #onStall: (waitedMs: number) => void;
  readonly #onRecover: () => void;
  /** Operations in flight; begin/end may nest. */
  #depth = 0;
  /** When the outermost operation in flight began (performance.now()); NaN when none is. */
  #since = NaN;
  #stalled = false;
  readonly #timer: NodeJS.Timeout | null = null;
  readonly #signal: DiskWorkSignal | undefined;

  /**
   * `onStall` is told once when the work in flight has waited `limitMs` (with how long it
   * has), `onRecover` when that work then ends. A limit of Infinity watches nothing.
   * `signal`, if given, is told when the outermost work begins and ends.
   */
  constructor(limitMs: number, onStall: (waitedMs: number) => void, onRecover: () => void, signal?: DiskWorkSignal) {
    if (!(limitMs > 0)) throw new RangeError(`a stall limit must be > 0 (or Infinity), got ${limitMs}`);
    this.#limitMs = limitMs;
    this.#onStall = onStall;
    this.#onRecover = onRecover;
    this.#signal = signal;
    if (limitMs === Infinity) return;
    this.#timer = setInterval(() => this.#check(), Math.max(10, Math.min(1000, limitMs / 4)));
    this.#timer.unref();
  }

  /** Disk work begins. */
  begin(): void {
    if (this.#depth++ > 0) return;
    this.#since = performance.now();
    this.#signal?.begin();
  }

  /**
   * The work begun last ended (returned or failed). Outermost work that ran past the limit
   * unseen is reported now, its stall and its end together: the timer runs on the thread
   * doing the work, and a write() the disk holds blocks that thread, timer and all (or the
   * work ended between two looks).
   */
  end(): void {
    const outermost = this.#depth === 1;
    if (--this.#depth > 0) return;
    this.#depth = 0;
    const waited = performance.now() - this.#since;
    this.#since = NaN;
    if (outermost) this.#signal?.end();
    if (!this.#stalled && outermost && waited >= this.#limitMs) {
      this.#stalled = true;
      this.#onStall(waited);
    }
    if (this.#stalled) {
      this.#stalled = false;
      this.#onRecover();
    }
  }

  /**
   * Whether the work in flight has waited past the limit; stale by up to a quarter of the
   * limit (at most a second).
   */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Stops the timer (the owner closes). */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
  }

  #check(): void {
    if (this.#stalled || Number.isNaN(this.#since)) return;
    const waited = performance.now() - this.#since;
    if (waited < this.#limitMs) return;
    this.#stalled = true;
    this.#onStall(waited);
  }
}
