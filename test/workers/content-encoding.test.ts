/**
 * Bodies against --max-decoded-body (src/workers/content-encoding.ts): zstd frames that
 * state their decoded size, read from frames made by Node's zstd (the library every zstd
 * tool uses) and refused before decompressing when over the cap; every zlib encoding
 * stopped at the cap, decoded to its bytes within it, 400 when it does not decode.
 */
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checkDeclaredSize, decodeBody, DecodeError, decodeInPool, gzipStatedSize, SYNC_DECODE_LIMIT, zstdDeclaredSize, type Encoding } from '../../src/workers/content-encoding.ts';

/** `n` zero bytes through a streaming zstd compressor: a frame that does not state its size. */
async function streamed(n: number): Promise<Buffer> {
  const stream = zlib.createZstdCompress();
  const out: Buffer[] = [];
  stream.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((r) => stream.on('end', r));
  for (let left = n; left > 0; left -= 1 << 20) stream.write(Buffer.alloc(Math.min(left, 1 << 20)));
  stream.end();
  await ended;
  return Buffer.concat(out);
}

describe('zstdDeclaredSize', () => {
  it('reads Frame_Content_Size in each of its widths, as libzstd writes it', () => {
    // 1 byte (single segment), 2 bytes (stored minus 256), 4 bytes; 0 is a size too.
    for (const n of [0, 1, 255, 256, 300, 65_791, 65_792, 1 << 20, 3_000_000]) {
      expect(zstdDeclaredSize(zlib.zstdCompressSync(Buffer.alloc(n, 7))), `${n} bytes`).toBe(n);
    }
  });

  it('reads the 8-byte width and skips a window descriptor and a dictionary id', () => {
    // Descriptor 0b11_0_00_0_10: 8-byte size, not single segment (a window byte), 2-byte dictionary id.
    const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0b1100_0010, 0x58, 0x34, 0x12, 0, 0, 0, 0, 1, 0, 0, 0]);
    expect(zstdDeclaredSize(header)).toBe(2 ** 32);
  });

  it('is undefined when the frame does not say, the header is cut, or it is not zstd', async () => {
    // A streaming compressor does not know the size when it writes the header.
    expect(zstdDeclaredSize(await streamed(16))).toBeUndefined();
    const stated = zlib.zstdCompressSync(Buffer.alloc(70_000));
    expect(zstdDeclaredSize(stated.subarray(0, 6))).toBeUndefined();
    expect(zstdDeclaredSize(zlib.gzipSync(Buffer.alloc(10)))).toBeUndefined();
    expect(zstdDeclaredSize(Buffer.alloc(0))).toBeUndefined();
  });
});

/** `n` bytes from a seeded xorshift32: data that does not compress, so a cut one is cut. */
function noise(n: number, seed = 0x2545f491): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** What the body reader does: decodeBody on the thread, decodeInPool when it says so. */
async function decodeAll(encoding: Exclude<Encoding, 'identity'>, body: Buffer, max: number): Promise<{ out: Buffer; inPool: boolean }> {
  const out = decodeBody(encoding, body, max);
  if (out !== undefined) return { out, inPool: false };
  if (encoding === 'snappy') throw new Error('snappy is always decoded on the thread');
  const chunks: Buffer[] = [];
  await decodeInPool(encoding, body, max, (chunk) => (chunks.push(chunk), true));
  return { out: Buffer.concat(chunks), inPool: true };
}

/** decodeAll's DecodeError, or undefined when it decoded. */
async function refusal(encoding: Exclude<Encoding, 'identity'>, body: Buffer, max: number): Promise<DecodeError | undefined> {
  try {
    await decodeAll(encoding, body, max);
    return undefined;
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
}

/** `body` gzipped, its trailer's ISIZE replaced by `isize`: a body that lies about its size. */
function forgedGzip(body: Buffer, isize: number): Buffer {
  const gz = zlib.gzipSync(body);
  gz.writeUInt32LE(isize, gz.length - 4);
  return gz;
}

describe('zstd bodies against --max-decoded-body', () => {
  it('a bomb that states its size is 413 from its header, before anything is decompressed', async () => {
    const bomb = zlib.zstdCompressSync(Buffer.alloc(256 << 20));
    const message = 'zstd body declares 268435456 decoded bytes, over the 1048576 bytes allowed (--max-decoded-body)';
    // The first chunk received is checked alone (the body reader calls this on it).
    expect(() => checkDeclaredSize('zstd', bomb.subarray(0, 16), 1 << 20)).toThrow(message);
    expect(() => decodeBody('zstd', bomb, 1 << 20)).toThrow(message);
    expect((await refusal('zstd', bomb, 1 << 20))?.status).toBe(413);
  });

  it('a bomb that does not state it is still 413 once its output passes the cap', async () => {
    const bomb = await streamed(16 << 20);
    expect(zstdDeclaredSize(bomb)).toBeUndefined();
    const e = await refusal('zstd', bomb, 1 << 20);
    expect(e?.status).toBe(413);
    expect(e?.message).toMatch(/zstd body decodes to more than the 1048576 bytes allowed/);
  });
});

describe('gzip bodies: the size the trailer states', () => {
  it('is ISIZE, the last four bytes, for one member or several', () => {
    expect(gzipStatedSize(zlib.gzipSync(Buffer.alloc(300_000)))).toBe(300_000);
    expect(gzipStatedSize(Buffer.concat([zlib.gzipSync(Buffer.alloc(5)), zlib.gzipSync(Buffer.alloc(7))]))).toBe(7);
    expect(gzipStatedSize(forgedGzip(Buffer.alloc(10), 0xffffffff))).toBe(0xffffffff);
    expect(gzipStatedSize(zlib.deflateSync(Buffer.alloc(10)))).toBeUndefined();
    expect(gzipStatedSize(Buffer.from([0x1f, 0x8b]))).toBeUndefined();
  });

  it('over the cap is 413 before inflating; a trailer that understates does not get past the cap', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(64 << 20));
    expect(() => decodeBody('gzip', bomb, 1 << 20)).toThrow('gzip body declares 67108864 decoded bytes, over the 1048576 bytes allowed (--max-decoded-body)');
    const liar = forgedGzip(Buffer.alloc(64 << 20), 100);
    const e = await refusal('gzip', liar, 1 << 20);
    expect(e?.status).toBe(413);
    expect(e?.message).toBe('gzip body decodes to more than the 1048576 bytes allowed (--max-decoded-body)');
  });
});

describe('gzip, deflate and zstd bodies: on the thread up to SYNC_DECODE_LIMIT, in the pool past it, 413 past the cap', () => {
  const body = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => i % 251));
  const compress = { gzip: zlib.gzipSync, deflate: zlib.deflateSync, zstd: zlib.zstdCompressSync } as const;

  for (const encoding of ['gzip', 'deflate', 'zstd'] as const) {
    it(`${encoding}: a body of up to SYNC_DECODE_LIMIT bytes decodes on the thread, a larger one in the pool`, async () => {
      const small = body.subarray(0, SYNC_DECODE_LIMIT);
      expect(decodeBody(encoding, compress[encoding](small), 1 << 20)?.equals(small)).toBe(true);
      const large = body.subarray(0, SYNC_DECODE_LIMIT + 1);
      expect(decodeBody(encoding, compress[encoding](large), 1 << 20)).toBeUndefined();
      const r = await decodeAll(encoding, compress[encoding](large), 1 << 20);
      expect(r.inPool).toBe(true);
      expect(r.out.equals(large)).toBe(true);
    });

    it(`${encoding}: a body of the cap itself decodes to its bytes`, async () => {
      expect((await decodeAll(encoding, compress[encoding](body), 1 << 20)).out.equals(body)).toBe(true);
      const small = body.subarray(0, 1000);
      expect((await decodeAll(encoding, compress[encoding](small), 1000)).out.equals(small)).toBe(true);
    });

    it(`${encoding}: one byte over the cap is 413, on the thread or in the pool, and so is a bomb`, async () => {
      // gzip and zstd state the size (trailer, frame header): refused before inflating.
      const expected = encoding === 'deflate' ? `${encoding} body decodes to more than` : `${encoding} body declares 1048576 decoded bytes, over`;
      const over = await refusal(encoding, compress[encoding](body), (1 << 20) - 1);
      expect(over?.status).toBe(413);
      expect(over?.message).toBe(`${expected} the 1048575 bytes allowed (--max-decoded-body)`);
      const overSmall = await refusal(encoding, compress[encoding](body.subarray(0, 1001)), 1000);
      expect(overSmall?.status).toBe(413);
      expect((await refusal(encoding, compress[encoding](Buffer.alloc(64 << 20)), 1 << 20))?.status).toBe(413);
    });

    it(`${encoding}: bytes that do not decode, garbage, cut or empty, are 400, on the thread or in the pool`, async () => {
      const cut = (n: number) => {
        const c = compress[encoding](noise(n));
        const half = Buffer.from(c.subarray(0, c.length >> 1));
        // A cut gzip body's last four bytes are read as its ISIZE: zero, so they do not
        // state more than the cap (the next test is a cut body whose bytes do).
        if (encoding === 'gzip') half.fill(0, half.length - 4);
        return half;
      };
      for (const [what, bad] of [['garbage', noise(1000)], ['cut, small', cut(10_000)], ['cut, large', cut(600_000)], ['empty', Buffer.alloc(0)]] as const) {
        const e = await refusal(encoding, bad, 4 << 20);
        expect(e?.status, what).toBe(400);
        expect(e?.message, what).toMatch(new RegExp(`^body is not valid ${encoding}: `));
      }
    });
  }

  it('gzip: a cut body whose last four bytes, read as ISIZE, state more than the cap is 413', async () => {
    const half = Buffer.from(zlib.gzipSync(noise(10_000)).subarray(0, 5000));
    half.writeUInt32LE(5 << 20, half.length - 4);
    expect((await refusal('gzip', half, 4 << 20))?.message).toBe('gzip body declares 5242880 decoded bytes, over the 4194304 bytes allowed (--max-decoded-body)');
  });

  it('the pool hands over the output chunk by chunk, and stops when told to (the budget is full)', async () => {
    const large = zlib.gzipSync(noise(1 << 20));
    const seen: number[] = [];
    await decodeInPool('gzip', large, 4 << 20, (chunk) => (seen.push(chunk.length), seen.length < 3));
    expect(seen.length).toBe(3);
    expect(seen.reduce((a, b) => a + b, 0)).toBeLessThan(1 << 20);
  });

  it('gzip: a body of several members decodes to all of them (RFC 1952, 2.2)', () => {
    const two = Buffer.concat([zlib.gzipSync('cpu 1\n'), zlib.gzipSync('cpu 2\n')]);
    expect(decodeBody('gzip', two, 1 << 20)?.toString()).toBe('cpu 1\ncpu 2\n');
  });
});
