import {
  COMPLETION_BYTES,
  DATA_OFFSET,
  MAX_CAPACITY,
  MIN_CAPACITY,
} from './ring-descriptor.ts';

/**
 * The shared memory of one ring, kept apart from the views that use it (as ringbuf.js
 * does): a plain object that can be posted to a worker thread, where `new RingWriter(s)`
 * or `new RingReader(s)` wraps it.
 */
export interface RingStorage {
  readonly buffer: SharedArrayBuffer;
  /** Bytes in the data region, a power of two. */
  readonly capacity: number;
  /** Completion entries, a power of two: the most records awaiting durability at once. */
  readonly slots: number;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * Allocates a zeroed ring. `capacity` is the data region in bytes and `slots` the number
 * of records that may be written but not yet completed by the owner (default: one per
 * 64 bytes of data, at least 1024); both must be powers of two.
 */
export function createRingStorage(capacity: number, slots = Math.max(1024, capacity / 64)): RingStorage {
  if (!isPowerOfTwo(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY) {
    throw new RangeError(
      `ring capacity must be a power of two between ${MIN_CAPACITY} and ${MAX_CAPACITY} bytes, got ${capacity}`,
    );
  }
  if (!isPowerOfTwo(slots) || slots > MAX_CAPACITY / COMPLETION_BYTES) {
    throw new RangeError(`ring completion slots must be a power of two, got ${slots}`);
  }
  const buffer = new SharedArrayBuffer(DATA_OFFSET + capacity + slots * COMPLETION_BYTES);
  return { buffer, capacity, slots };
}
