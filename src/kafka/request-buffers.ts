/**
 * Reusable buffers for the owner's Produce requests (src/kafka/produce-encoder.ts).
 *
 * Why: a Produce request holds every record of its batch, so a fresh buffer per request
 * is as many bytes outside V8's heap as the gateway ingests (about 60 MB/s at 100 metrics
 * per request here). V8 answers external memory growth with incremental marking and a
 * full mark-compact of the owner thread, a pause for every ring (bench/ISSUE-15.md,
 * fourth round).
 *
 * When a buffer may be reused: only once the broker's response to its request has
 * arrived. The broker answers a request only after reading all of it, so by then the
 * socket has written every byte and nothing reads the buffer again. A request that never
 * gets a response (acks 0, a timeout, a closed connection) never returns its buffer: the
 * garbage collector takes it, as before.
 *
 * Buffers are kept by power-of-two size class, a few per class, and only up to
 * MAX_POOLED_BYTES in all. A request under MIN_POOLED_BYTES is not pooled: the batches
 * of 1-metric requests are that small, their bytes per second are few, and the A/B at 1
 * metric per request was slower with them pooled (README). Nor is one over
 * MAX_CLASS_BYTES. A request that gets no response (acks 0) keeps its buffer, so
 * `outstanding` then only grows: it counts buffers not given back, not bytes held.
 */
import { doubledCapacity } from '../records/grow-buffer.ts';

const MIN_POOLED_BYTES = 16 * 1024;
const MIN_CLASS_BYTES = 64 * 1024;
const MAX_CLASS_BYTES = 4 * 1024 * 1024;
/** Free buffers kept per size class: requests in flight at once are few (one per broker). */
const PER_CLASS = 4;
const MAX_POOLED_BYTES = 16 * 1024 * 1024;

export class RequestBufferPool {
  readonly #free = new Map<number, Buffer[]>();
  #pooledBytes = 0;
  /** Buffers handed out by take() and not (yet) given back (for tests). */
  outstanding = 0;
  /** take() calls served from the pool. */
  reused = 0;

  /**
   * `size` bytes (`bytes`), cut from a pooled buffer of the size class when one is free.
   * `backing` is that whole buffer, to give back once the request's response arrived;
   * undefined for a size that is never pooled.
   */
  take(size: number): { bytes: Buffer; backing: Buffer | undefined } {
    if (size < MIN_POOLED_BYTES) return { bytes: Buffer.allocUnsafe(size), backing: undefined };
    if (size > MAX_CLASS_BYTES) return { bytes: Buffer.allocUnsafeSlow(size), backing: undefined };
    const capacity = doubledCapacity(MIN_CLASS_BYTES, size);
    let backing = this.#free.get(capacity)?.pop();
    if (backing !== undefined) {
      this.#pooledBytes -= capacity;
      this.reused++;
    } else backing = Buffer.allocUnsafeSlow(capacity);
    this.outstanding++;
    return { bytes: backing.subarray(0, size), backing };
  }

  /** Returns a backing buffer from take(): its request's response has arrived. */
  give(backing: Buffer): void {
    this.outstanding--;
    const capacity = backing.length;
    let list = this.#free.get(capacity);
    if (list === undefined) this.#free.set(capacity, (list = []));
    if (list.length >= PER_CLASS || this.#pooledBytes + capacity > MAX_POOLED_BYTES) return;
    list.push(backing);
    this.#pooledBytes += capacity;
  }
}
