import {
  COMPLETION_BYTES,
  DATA_OFFSET,
  DRAIN_PASSES,
  DURABLE,
  HEAD,
  RECORDS_READ,
  RecordDescriptor,
  TAIL,
  WRITER_WAITS,
} from './ring-descriptor.ts';
import type { RingStorage } from './ring-storage.ts';

/**
 * Receives one record during a drain. `bytes` is the ring's shared memory and the
 * payload is `bytes[index, index + length)`: copy it before returning, the space is
 * handed back to the writer as soon as the drain pass ends.
 */
export type RecordHandler = (type: number, bytes: Uint8Array, index: number, length: number) => void;

/**
 * The read side of one ring and the owner's side of its durable cursor, used by exactly
 * one thread (the owner). Records come out in write order; completions go back in the
 * same order.
 */
export class RingReader {
  readonly capacity: number;
  /** The whole shared buffer; RecordHandler indexes into it. */
  readonly bytes: Uint8Array;

  private readonly words: Int32Array;
  private readonly counters: Float64Array;
  private readonly mask: number;
  private readonly slotMask: number;
  private readonly completionBase: number;
  /** Our own copy of HEAD: only this thread writes it. */
  private head: number;
  /** Next completion to write, and the last one made visible to the writer. */
  private completed: number;
  private published: number;
  /** Records read so far (wrapping, counted from the durable cursor like `completed`). */
  private readRecords: number;
  /** Atomics.notify calls on DURABLE, and how many of them woke a waiting writer (work counts). */
  notifies = 0;
  wakeups = 0;

  constructor(storage: RingStorage) {
    this.capacity = storage.capacity;
    this.mask = storage.capacity - 1;
    this.slotMask = storage.slots - 1;
    this.bytes = new Uint8Array(storage.buffer);
    this.words = new Int32Array(storage.buffer);
    this.counters = new Float64Array(storage.buffer);
    this.completionBase = DATA_OFFSET + storage.capacity;
    this.head = Atomics.load(this.words, HEAD);
    this.completed = this.published = Atomics.load(this.words, DURABLE);
    this.readRecords = this.completed;
  }

  /**
   * Whether every published record was read and every record read was completed and
   * published: a ring whose writer is gone can then be forgotten without losing anything.
   */
  settled(): boolean {
    return !this.hasRecords() && this.readRecords === this.completed && this.completed === this.published;
  }

  /** Whether the writer has published records not yet read; may be stale at once. */
  hasRecords(): boolean {
    return Atomics.load(this.words, TAIL) !== this.head;
  }

  /**
   * Drains up to `limit` records in one pass, calling `handler` for each in write order,
   * then frees their space with one Atomics.store of HEAD. Returns the number of records
   * read; records published after the pass began may wait for the next pass.
   */
  read(handler: RecordHandler, limit: number): number {
    const words = this.words;
    const tail = Atomics.load(words, TAIL);
    let head = this.head;
    let n = 0;
    while (head !== tail && n < limit) {
      const at = DATA_OFFSET + (head & this.mask);
      const length = words[RecordDescriptor.lengthIndex(at)];
      const type = words[RecordDescriptor.typeIndex(at)];
      if (type !== RecordDescriptor.PADDING_TYPE) {
        handler(type, this.bytes, at + RecordDescriptor.HEADER_LENGTH, length - RecordDescriptor.HEADER_LENGTH);
        n++;
      }
      head = (head + RecordDescriptor.align(length)) | 0;
    }
    if (head !== this.head) {
      this.head = head;
      Atomics.store(words, HEAD, head);
    }
    this.readRecords = (this.readRecords + n) | 0;
    this.counters[RECORDS_READ] += n;
    this.counters[DRAIN_PASSES]++;
    return n;
  }

  /**
   * Records the outcome of the oldest read record not yet completed. Invisible to the
   * writer until publish(); call it in read order, once per record read.
   */
  complete(status: number, partition: number, offset: number): void {
    const at = this.completionBase + (this.completed & this.slotMask) * COMPLETION_BYTES;
    this.words[at >> 2] = status;
    this.words[(at >> 2) + 1] = partition;
    this.counters[(at >> 3) + 1] = offset;
    this.completed = (this.completed + 1) | 0;
  }

  /**
   * Advances the durable cursor over every completion recorded so far (one
   * Atomics.store) and wakes the writer only if it said it waits.
   */
  publish(): void {
    if (this.completed === this.published) return;
    this.published = this.completed;
    Atomics.store(this.words, DURABLE, this.completed);
    if (Atomics.load(this.words, WRITER_WAITS) !== 0) {
      this.notifies++;
      this.wakeups += Atomics.notify(this.words, DURABLE);
    }
  }
}
