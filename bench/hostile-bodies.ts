/**
 * Hostile request bodies shared by the benchmarks that attack the gateway
 * (bench/memory.ts --body, bench/attack.ts --attack bombs).
 */
import zlib from 'node:zlib';

/**
 * 16 MiB of zeros gzipped (16 KB), its trailer's ISIZE overwritten with 0: a bomb that
 * hides its size, so the gateway cannot refuse it unread (one whose trailer states it
 * is, src/workers/content-encoding.ts) and inflates it up to --max-decoded-body.
 */
export function hiddenGzipBomb(): Buffer {
  const bomb = zlib.gzipSync(Buffer.alloc(16 << 20), { level: 9 });
  bomb.writeUInt32LE(0, bomb.length - 4);
  return bomb;
}
