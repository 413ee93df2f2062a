/**
 * The JavaScript snappy block decoder remote_write uses (src/protocols/snappy-block.ts)
 * against the native `snappy` package: the same output for seeded random inputs of every
 * literal-length class and copy kind (1-, 2- and 4-byte offsets, overlapping copies), and
 * on truncated and mutated blocks either the same output as the native decoder or a
 * DecodeError where the native decoder refuses too; the 413 from the stated length comes
 * before any output.
 */
import { compressSync, uncompressSync } from 'snappy';
import { describe, expect, it } from 'vitest';
import { snappyBlockDecodeReused } from '../../src/protocols/snappy-block.ts';
import { DecodeError } from '../../src/workers/content-encoding.ts';
import { prng } from '../support/prng.ts';

/** Random bytes mixing runs, repeats from near and far back, and incompressible stretches. */
function sample(r: () => number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let i = 0;
  while (i < size) {
    const kind = r();
    const n = Math.min(size - i, 1 + Math.floor(r() * (kind < 0.1 ? 70_000 : 300)));
    if (kind < 0.4 || i < 8) for (let k = 0; k < n; k++) b[i++] = Math.floor(r() * 256);
    else if (kind < 0.6) b.fill(Math.floor(r() * 256), i, (i += n));
    else {
      const from = Math.floor(r() * i);
      for (let k = 0; k < n; k++) b[i++] = b[from + k]!;
    }
  }
  return b;
}

describe('snappy block decoder', () => {
  it('decodes what the native encoder writes, byte for byte (seeded, 0 B to 300 KB)', () => {
    const r = prng(3);
    const sizes = [0, 1, 59, 60, 61, 256, 257, 65_535, 65_536, 70_000, 300_000];
    for (let i = 0; i < 60; i++) sizes.push(Math.floor(r() * 20_000));
    for (const size of sizes) {
      const data = sample(r, size);
      expect(Buffer.compare(snappyBlockDecodeReused(compressSync(data), 1 << 26), data)).toBe(0);
    }
  });

  it('agrees with the native decoder on truncated and mutated blocks, refusing only with DecodeError', () => {
    const r = prng(5);
    const good = compressSync(sample(r, 5_000));
    const tryBoth = (b: Buffer) => {
      let native: Buffer | undefined;
      try {
        native = uncompressSync(b) as Buffer;
      } catch {
        native = undefined;
      }
      let ours: Buffer | undefined;
      try {
        ours = Buffer.from(snappyBlockDecodeReused(b, 1 << 26));
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
        expect((e as DecodeError).status).toBe(400);
      }
      if (native === undefined) expect(ours).toBeUndefined();
      else expect(ours && Buffer.compare(ours, native)).toBe(0);
    };
    for (let cut = 0; cut < good.length; cut += 97) tryBoth(good.subarray(0, cut));
    for (let i = 0; i < 1500; i++) {
      const b = Buffer.from(good);
      for (let k = 0; k < 2; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      tryBoth(b);
    }
    tryBoth(Buffer.from([0x05, 0x01, 0x00])); // a copy with nothing before it
    tryBoth(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])); // a 6-byte length header
  });

  it('refuses a stated length over the cap with 413', () => {
    const block = compressSync(Buffer.alloc(10_000));
    expect(() => snappyBlockDecodeReused(block, 9_999)).toThrow(expect.objectContaining({ status: 413 }));
  });
});
