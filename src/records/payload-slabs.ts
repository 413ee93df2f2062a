/**
 * Where the owner keeps the records it drained until the sink is done with them: ring
 * payloads are copied into large reusable slabs instead of a Buffer each.
 *
 * Why: the owner frees ring space as soon as it drains a record, so every record is
 * copied out. A Buffer of its own per record is, above 4 KiB, a fresh ArrayBuffer outside
 * V8's heap, and V8 answers external memory with full mark-compacts: at 100 metrics per
 * request (7 KB records, 6,000 a second) the owner thread ran one every 100-200 ms, 2-4
 * ms of pause plus incremental steps each, while its heap held 12 MB. Each stalled the
 * commit in flight and every ring, and showed in the requests' p99.
 *
 * A batch's slabs return to the free list only once the sink is done with its records
 * (Owner: its append resolved and no outcome is unknown). A batch whose records a sink
 * may still hold (kafkajs still sending after a deadline, an abandoned append) leaves its
 * slabs to the garbage collector.
 *
 * ```
 *   slab (SLAB_BYTES)
 *   +----------+----------+-----+----------+----------------+
 *   | payload  | payload  | ... | payload  | unused tail    |
 *   +----------+----------+-----+----------+----------------+
 *   ^ views handed out by copy(), valid until the slab is released
 * ```
 */

/** Bytes per slab: a batch of twenty 100-metric records fits in one. */
export const SLAB_BYTES = 256 * 1024;
/** Payloads larger than this get a Buffer of their own (rare; not worth a slab's tail). */
export const LARGEST_SLABBED = 64 * 1024;
/** Free slabs kept for reuse; more go to the garbage collector (bounds idle memory). */
const MAX_FREE_SLABS = 16;

export class PayloadSlabs {
  #free: Buffer[] = [];
  /** Slabs holding the batch being filled, the last one current. */
  #batch: Buffer[] = [];
  #used = SLAB_BYTES;

  /**
   * Copies bytes[index, index + length) into the current batch's memory and returns the
   * copy: valid until the batch's slabs are released.
   */
  copy(bytes: Uint8Array, index: number, length: number): Buffer {
    if (length > LARGEST_SLABBED) {
      const own = Buffer.allocUnsafeSlow(length);
      own.set(bytes.subarray(index, index + length));
      return own;
    }
    if (this.#used + length > SLAB_BYTES) {
      this.#batch.push(this.#free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES));
      this.#used = 0;
    }
    const slab = this.#batch[this.#batch.length - 1]!;
    const start = this.#used;
    slab.set(bytes.subarray(index, index + length), start);
    // The next payload starts 8-byte aligned, as in the ring (the timestamp is a float64).
    this.#used = (start + length + 7) & ~7;
    return slab.subarray(start, start + length);
  }

  /** Ends the batch being filled and returns its slabs; the next copy() starts a new one. */
  takeBatch(): Buffer[] {
    const slabs = this.#batch;
    this.#batch = [];
    this.#used = SLAB_BYTES;
    return slabs;
  }

  /** The sink is done with every record in `slabs` (from takeBatch): they may be reused. */
  release(slabs: Buffer[]): void {
    for (const slab of slabs) if (this.#free.length < MAX_FREE_SLABS) this.#free.push(slab);
  }

  /** Slabs waiting for reuse (for tests). */
  get freeSlabs(): number {
    return this.#free.length;
  }
}
