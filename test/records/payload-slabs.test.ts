/**
 * PayloadSlabs: the owner's memory for drained records. What the owner relies on: each
 * copy holds exactly the payload, copies of one batch never overlap, a released batch's
 * memory is what the next batches reuse, and a batch not released is never written again.
 */
import { describe, expect, it } from 'vitest';
import { LARGEST_SLABBED, PayloadSlabs, SLAB_BYTES } from '../../src/records/payload-slabs.ts';
import { prng } from '../support/prng.ts';

function payload(random: () => number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = Math.floor(random() * 256);
  return b;
}

describe('PayloadSlabs', () => {
  it('copies every payload exactly, 8-byte aligned, without overlap, across slabs', () => {
    const random = prng(7);
    const slabs = new PayloadSlabs();
    const ring = payload(random, 1 << 20);
    const kept: { copy: Buffer; at: number; length: number }[] = [];
    for (let i = 0; i < 400; i++) {
      const length = 12 + Math.floor(random() * 9000);
      const at = Math.floor(random() * (ring.length - length));
      kept.push({ copy: slabs.copy(ring, at, length), at, length });
    }
    const batch = slabs.takeBatch();
    expect(batch.length).toBeGreaterThan(1);
    for (const { copy, at, length } of kept) {
      expect(Buffer.compare(copy, ring.subarray(at, at + length))).toBe(0);
      expect(copy.byteOffset % 8).toBe(0);
    }
    // No two copies share a byte: writing one leaves every other intact.
    for (const k of kept) k.copy.fill(0xee);
    for (const k of kept) expect(k.copy.every((b) => b === 0xee)).toBe(true);
    const bytes = kept.reduce((sum, k) => sum + k.length, 0);
    expect(new Set(kept.map((k) => k.copy.buffer)).size).toBe(batch.length);
    expect(batch.length).toBeLessThanOrEqual(Math.ceil(bytes / (SLAB_BYTES - 9016)) + 1);
  });

  it('reuses a released batch, and never the memory of a batch that was not released', () => {
    const random = prng(11);
    const slabs = new PayloadSlabs();
    const src = payload(random, 8192);
    const first = slabs.copy(src, 0, 4096);
    const firstBatch = slabs.takeBatch();
    const unreleased = slabs.copy(src, 100, 4096);
    const unreleasedBatch = slabs.takeBatch();
    expect(unreleasedBatch[0]).not.toBe(firstBatch[0]);
    slabs.release(firstBatch);
    expect(slabs.freeSlabs).toBe(1);
    const next = slabs.copy(src, 200, 4096);
    expect(next.buffer).toBe(first.buffer); // the released slab, reused
    expect(Buffer.compare(unreleased, src.subarray(100, 4196))).toBe(0);
    expect(slabs.takeBatch()[0]).toBe(firstBatch[0]);
  });

  it('gives a payload over LARGEST_SLABBED a buffer of its own, outside any batch', () => {
    const random = prng(3);
    const slabs = new PayloadSlabs();
    const src = payload(random, LARGEST_SLABBED + 1000);
    const big = slabs.copy(src, 0, LARGEST_SLABBED + 1);
    expect(big.byteLength).toBe(LARGEST_SLABBED + 1);
    expect(big.byteOffset).toBe(0);
    expect(Buffer.compare(big, src.subarray(0, LARGEST_SLABBED + 1))).toBe(0);
    expect(slabs.takeBatch()).toEqual([]);
  });
});
