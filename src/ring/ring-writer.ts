import { AsyncWaiter } from './async-waiter.ts';
import type { Doorbell } from './doorbell.ts';
import {
  BYTES_WRITTEN,
  COMPLETION_BYTES,
  DATA_OFFSET,
  DURABLE,
  HEAD,
  HEARTBEAT,
  RECORDS_WRITTEN,
  REFUSED_FULL,
  RecordDescriptor,
  TAIL,
  WRITER_WAITS,
  maxRecordLength,
} from './ring-descriptor.ts';
import type { RingStorage } from './ring-storage.ts';

/** Called once per record, in write order, when the owner has completed it. */
export type DurableCallback = (status: number, partition: number, offset: number) => void;

/** Returned by tryClaim when the ring has no room (or too many records await completion). */
export const FULL = -1;

/**
 * Past this index, a writer that finds the ring empty starts again at its beginning (see
 * tryClaim): the part of the ring steady traffic uses, and so keeps resident. A ring's
 * SharedArrayBuffer is memory the kernel maps in as it is first written: without the
 * rewind every ring becomes wholly resident once traffic has gone round it once (16 MiB
 * per worker by default: 256 MB for 16 workers), whatever the traffic needs.
 */
export const REWIND_INDEX = 1 << 20;

/** The durable watcher's safety net: how often it checks for a lost wake-up (AsyncWaiter). */
const WATCH_TIMEOUT_MS = 1000;

/**
 * The write side of one ring, used by exactly one thread (an HTTP worker). Writing never
 * blocks, never locks and makes no syscall: a record is copied in with plain stores and
 * published with one Atomics.store of the tail. It also holds the worker's side of the
 * durable cursor: callbacks for written records run in write order once the owner has
 * made them durable (or failed them).
 */
export class RingWriter {
  /** Bytes of the data region. */
  readonly capacity: number;
  /** Largest payload accepted by tryClaim/tryWrite. */
  readonly maxPayload: number;
  /**
   * The whole shared buffer as bytes; tryClaim returns an index into it, so a caller can
   * encode a record in place.
   */
  readonly bytes: Uint8Array;

  private readonly words: Int32Array;
  private readonly counters: Float64Array;
  private readonly mask: number;
  private readonly slots: number;
  private readonly completionBase: number;
  private readonly callbacks: (DurableCallback | undefined)[];
  private readonly doorbell: Doorbell | undefined;
  /** Our own copy of TAIL: only this thread writes it. */
  private tail: number;
  /** Last HEAD we read; may be stale (too small), which only makes us re-read it. */
  private headCache: number;
  /** Records written (wrapping int32) and completions consumed: their gap is in flight. */
  private written: number;
  private consumed: number;
  private claimedTail = 0;
  private claimedAt = -1;
  private claimedType = 0;
  private claimedLength = 0;
  private watching = false;
  /**
   * Callbacks registered and not yet run. A slot holds a callback exactly while it is
   * pending, so when this is 0 every slot is empty and poll() can jump the cursor
   * instead of visiting each completion: writers without callbacks (acks=0) would
   * otherwise pay a slot visit per record.
   */
  private pendingCallbacks = 0;
  /** The durable watcher's sleep on DURABLE; it also keeps the event loop alive meanwhile. */
  private readonly durableWaiter: AsyncWaiter;

  constructor(storage: RingStorage, doorbell?: Doorbell) {
    this.capacity = storage.capacity;
    this.mask = storage.capacity - 1;
    this.slots = storage.slots;
    this.maxPayload = maxRecordLength(storage.capacity) - RecordDescriptor.HEADER_LENGTH;
    this.bytes = new Uint8Array(storage.buffer);
    this.words = new Int32Array(storage.buffer);
    this.counters = new Float64Array(storage.buffer);
    this.completionBase = DATA_OFFSET + storage.capacity;
    this.callbacks = new Array(storage.slots);
    this.doorbell = doorbell;
    this.tail = Atomics.load(this.words, TAIL);
    this.headCache = Atomics.load(this.words, HEAD);
    this.consumed = Atomics.load(this.words, DURABLE);
    this.written = this.consumed;
    this.durableWaiter = new AsyncWaiter(this.words, DURABLE, WATCH_TIMEOUT_MS);
  }

  /**
   * Times the durable watcher had to be woken by its safety net with completions already
   * published: each one is a lost wake-up, so this stays 0 unless the protocol is broken.
   */
  get lostWakeups(): number {
    return this.durableWaiter.lostWakeups;
  }

  /**
   * Reserves room for a record of `type` (> 0) with `length` payload bytes and returns
   * the index in `bytes` where the payload goes, or FULL at once when the ring lacks
   * room or `slots` records already await completion. Follow with commit() before the
   * next claim. Throws RangeError for a record longer than maxPayload: a caller bug,
   * not a load condition.
   */
  tryClaim(type: number, length: number): number {
    if (length > this.maxPayload || length < 0) {
      throw new RangeError(
        `ring record of ${length} bytes exceeds the maximum payload of ${this.maxPayload} bytes (capacity / 8 minus header)`,
      );
    }
    if (((this.written - this.consumed) | 0) >= this.slots) {
      this.poll();
      if (((this.written - this.consumed) | 0) >= this.slots) return this.refuse();
    }
    const recordLength = length + RecordDescriptor.HEADER_LENGTH;
    const aligned = RecordDescriptor.align(recordLength);
    const tail = this.tail;
    const index = tail & this.mask;
    const toEnd = this.capacity - index;
    // A record never wraps: if it does not fit before the end, pad to the end first.
    let required = aligned <= toEnd ? aligned : toEnd + aligned;
    // Rewind: past REWIND_INDEX with the ring empty (the owner read everything), pad to the
    // end as at a wrap and start again at 0. Only a burst that fills the first MiB goes
    // further; one Atomics.load per record while past it (usually one record: the ring of a
    // worker answering at acks 1 is mostly empty).
    if (index >= REWIND_INDEX && required === aligned && aligned <= index && Atomics.load(this.words, HEAD) === tail) {
      this.headCache = tail;
      required = toEnd + aligned;
    }
    if (required > this.capacity - ((tail - this.headCache) | 0)) {
      this.headCache = Atomics.load(this.words, HEAD);
      if (required > this.capacity - ((tail - this.headCache) | 0)) return this.refuse();
    }
    let at = DATA_OFFSET + index;
    if (required !== aligned) {
      const words = this.words;
      words[RecordDescriptor.lengthIndex(at)] = toEnd;
      words[RecordDescriptor.typeIndex(at)] = RecordDescriptor.PADDING_TYPE;
      at = DATA_OFFSET;
    }
    this.claimedTail = (tail + required) | 0;
    this.claimedAt = at;
    this.claimedType = type;
    this.claimedLength = recordLength;
    return at + RecordDescriptor.HEADER_LENGTH;
  }

  /**
   * Publishes the claimed record to the reader (one Atomics.store) and rings the owner's
   * doorbell if it sleeps. `onDurable`, if given, runs once the owner completes this
   * record; records without one are still consumed in order.
   */
  commit(onDurable?: DurableCallback): void {
    const at = this.claimedAt;
    if (at < 0) throw new Error('RingWriter.commit without a successful tryClaim');
    const words = this.words;
    words[RecordDescriptor.lengthIndex(at)] = this.claimedLength;
    words[RecordDescriptor.typeIndex(at)] = this.claimedType;
    if (onDurable !== undefined) {
      this.callbacks[this.written & (this.slots - 1)] = onDurable;
      this.pendingCallbacks++;
    }
    this.written = (this.written + 1) | 0;
    this.tail = this.claimedTail;
    this.claimedAt = -1;
    // The release: every plain store above is visible to a reader that loads this tail.
    Atomics.store(words, TAIL, this.claimedTail);
    const counters = this.counters;
    counters[RECORDS_WRITTEN]++;
    counters[BYTES_WRITTEN] += this.claimedLength;
    this.doorbell?.ring();
    if (onDurable !== undefined && !this.watching) void this.watch();
  }

  /** Copies `payload` in as one record of `type`; false (at once) when full. */
  tryWrite(type: number, payload: Uint8Array, onDurable?: DurableCallback): boolean {
    const index = this.tryClaim(type, payload.length);
    if (index === FULL) return false;
    this.bytes.set(payload, index);
    this.commit(onDurable);
    return true;
  }

  /** Records written and not yet completed by the owner, as this thread last saw. */
  get inFlight(): number {
    return (this.written - this.consumed) | 0;
  }

  /**
   * Runs the callbacks of every record the owner has completed so far, in write order,
   * and frees their completion slots. Returns how many it consumed.
   */
  poll(): number {
    const durable = Atomics.load(this.words, DURABLE);
    let consumed = this.consumed;
    if (consumed === durable) return 0;
    if (this.pendingCallbacks === 0) {
      this.consumed = durable;
      return (durable - consumed) | 0;
    }
    const words = this.words;
    const counters = this.counters;
    const slotMask = this.slots - 1;
    let n = 0;
    while (consumed !== durable) {
      const slot = consumed & slotMask;
      const at = this.completionBase + slot * COMPLETION_BYTES;
      const callback = this.callbacks[slot];
      consumed = (consumed + 1) | 0;
      this.consumed = consumed;
      n++;
      if (callback !== undefined) {
        this.callbacks[slot] = undefined;
        this.pendingCallbacks--;
        callback(words[at >> 2], words[(at >> 2) + 1], counters[(at >> 3) + 1]);
      }
    }
    return n;
  }

  /** Stamps the heartbeat word (ms) so a monitor can tell this writer is alive. */
  heartbeat(now: number): void {
    this.counters[HEARTBEAT] = now;
  }

  private refuse(): number {
    this.counters[REFUSED_FULL]++;
    return FULL;
  }

  /**
   * One waiter per ring: sleeps on DURABLE with Atomics.waitAsync while records are in
   * flight. WRITER_WAITS tells the owner to notify; it is set before re-reading DURABLE
   * so a completion published in between is never missed.
   */
  private async watch(): Promise<void> {
    this.watching = true;
    const words = this.words;
    try {
      while (((this.written - this.consumed) | 0) > 0) {
        Atomics.store(words, WRITER_WAITS, 1);
        const seen = Atomics.load(words, DURABLE);
        if (seen === this.consumed) await this.durableWaiter.wait(seen);
        this.poll();
      }
    } finally {
      Atomics.store(words, WRITER_WAITS, 0);
      this.watching = false;
    }
  }
}
