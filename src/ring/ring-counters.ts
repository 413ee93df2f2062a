import {
  BYTES_WRITTEN,
  DRAIN_PASSES,
  DURABLE,
  HEAD,
  HEARTBEAT,
  RECORDS_READ,
  RECORDS_WRITTEN,
  REFUSED_FULL,
  TAIL,
} from './ring-descriptor.ts';
import type { RingStorage } from './ring-storage.ts';

/** A snapshot of one ring's counters. */
export interface RingCounters {
  recordsWritten: number;
  refusedFull: number;
  bytesWritten: number;
  /** ms timestamp the writer last stamped, 0 if never. */
  heartbeat: number;
  recordsRead: number;
  drainPasses: number;
  /** Bytes published and not yet freed by the reader. */
  occupiedBytes: number;
  /** Records read by the owner and completed (the durable cursor). */
  durable: number;
}

/**
 * Reads a ring's counters from any thread without a lock. Each field is read on its own,
 * so the snapshot may mix moments and is stale as soon as it returns: fine for a monitor.
 */
export function readRingCounters(storage: RingStorage): RingCounters {
  const words = new Int32Array(storage.buffer, 0, 256);
  const counters = new Float64Array(storage.buffer, 0, 128);
  return {
    recordsWritten: counters[RECORDS_WRITTEN],
    refusedFull: counters[REFUSED_FULL],
    bytesWritten: counters[BYTES_WRITTEN],
    heartbeat: counters[HEARTBEAT],
    recordsRead: counters[RECORDS_READ],
    drainPasses: counters[DRAIN_PASSES],
    occupiedBytes: (Atomics.load(words, TAIL) - Atomics.load(words, HEAD)) | 0,
    durable: Atomics.load(words, DURABLE),
  };
}
