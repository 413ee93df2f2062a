/**
 * The protobuf reader's short-string intern cache (src/protocols/wire.ts) returns exactly
 * what a plain UTF-8 decode returns, whatever the cache holds: thousands of distinct
 * strings (so slots collide and are replaced), each read again, ASCII and not, empty and
 * at the cache's 32-byte limit; invalid UTF-8 still refused.
 */
import { describe, expect, it } from 'vitest';
import { internedSlice, ProtoReader, WireError } from '../../src/protocols/wire.ts';

describe('interned short strings', () => {
  it('decode like Buffer.toString over colliding slots, and refuse invalid UTF-8', () => {
    const words: string[] = ['', 'a', 'x'.repeat(31), 'y'.repeat(32), 'é', 'ünï', 'z'.repeat(33)];
    for (let i = 0; i < 5000; i++) words.push(`k${i}`, `v${(i * 7919) % 4999}`);
    const buf = Buffer.from(words.join(''));
    for (let round = 0; round < 2; round++) {
      let at = 0;
      for (const w of words) {
        const n = Buffer.byteLength(w);
        if (n <= 32) expect(internedSlice(buf, at, at + n)).toBe(w);
        at += n;
      }
    }
    // Through ProtoReader.string(): a length-prefixed field, cached or not.
    const field = (s: Buffer) => Buffer.concat([Buffer.from([s.length]), s]);
    const r = new ProtoReader(Buffer.concat([field(Buffer.from('host')), field(Buffer.from('host')), field(Buffer.from([0xc3, 0x28]))]));
    expect(r.string()).toBe('host');
    expect(r.string()).toBe('host');
    expect(() => r.string()).toThrow(WireError);
  });
});
