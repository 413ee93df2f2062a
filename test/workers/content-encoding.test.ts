/**
 * zstd bodies that state their decoded size (src/workers/content-encoding.ts): read from
 * frames made by Node's zstd (the library every zstd tool uses), refused before
 * decompressing when over the cap, decoded as before otherwise.
 */
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createBodyDecoder, DecodeError, zstdDeclaredSize } from '../../src/workers/content-encoding.ts';

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

function decode(body: Buffer, max: number): Promise<{ out: Buffer; chunks: number; error?: DecodeError }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const d = createBodyDecoder('zstd', max, (c) => chunks.push(c), (error) => resolve({ out: Buffer.concat(chunks), chunks: chunks.length, error }));
    d.write(body);
    d.end();
  });
}

describe('zstd bodies against --max-decoded-body', () => {
  it('a bomb that states its size is 413 before anything is decompressed', async () => {
    const bomb = zlib.zstdCompressSync(Buffer.alloc(256 << 20));
    const r = await decode(bomb, 1 << 20);
    expect(r.error?.status).toBe(413);
    expect(r.error?.message).toBe('zstd body declares 268435456 decoded bytes, over the 1048576 bytes allowed (--max-decoded-body)');
    expect(r.chunks).toBe(0);
  });

  it('a bomb that does not state it is still 413 once its output passes the cap', async () => {
    const bomb = await streamed(16 << 20);
    expect(zstdDeclaredSize(bomb)).toBeUndefined();
    const r = await decode(bomb, 1 << 20);
    expect(r.error?.status).toBe(413);
    expect(r.error?.message).toMatch(/zstd body decodes to more than the 1048576 bytes allowed/);
  });

  it('a body within the cap decodes to its bytes, the cap itself included', async () => {
    const body = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => i % 251));
    const r = await decode(zlib.zstdCompressSync(body), 1 << 20);
    expect(r.error).toBeUndefined();
    expect(r.out.equals(body)).toBe(true);
  });
});
