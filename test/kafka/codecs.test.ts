/**
 * The byte formats of our Kafka codecs, checked without a broker: what one side writes the
 * other reads, Java's Xerial-framed snappy reads, and LZ4 frames use independent blocks
 * (Java's KafkaLZ4BlockInputStream reads nothing else). The broker round trips, through
 * librdkafka's decoders too, are in kafka-sink.test.ts.
 */
import { describe, expect, it } from 'vitest';
import snappy from 'snappy';
import { CODEC_NAMES, compressAsync, compressSync, decompress } from '../../src/kafka/codec-impl.ts';
import { compressInPool, acquireCompressPool, releaseCompressPool } from '../../src/kafka/compress-pool.ts';

const payload = Buffer.from(
  Array.from({ length: 2000 }, (_, i) => `{"name":"cpu.load","value":${i % 97},"host":"web-${i % 7}"}`).join('\n'),
);

describe('Kafka codecs', () => {
  for (const codec of CODEC_NAMES) {
    it(`${codec}: sync, pool and libuv-async output all decompress to the input`, async () => {
      acquireCompressPool();
      try {
        for (const packed of [
          compressSync(codec, payload),
          await compressInPool(codec, payload),
          await compressAsync(codec, payload),
        ]) {
          expect(packed.length).toBeLessThan(payload.length);
          expect((await decompress(codec, packed)).equals(payload)).toBe(true);
        }
      } finally {
        await releaseCompressPool();
      }
    });
  }

  it('snappy: reads Xerial framing (what the Java producer writes)', async () => {
    const parts = [payload.subarray(0, 30000), payload.subarray(30000)];
    const frames: Buffer[] = [Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])];
    for (const part of parts) {
      const block = snappy.compressSync(part);
      const len = Buffer.alloc(4);
      len.writeInt32BE(block.length);
      frames.push(len, block);
    }
    expect((await decompress('snappy', Buffer.concat(frames))).equals(payload)).toBe(true);
  });

  it('lz4: writes a standard LZ4 frame with independent blocks', () => {
    const frame = compressSync('lz4', payload);
    expect(frame.readUInt32LE(0)).toBe(0x184d2204); // LZ4 frame magic
    const flg = frame[4];
    expect(flg >> 6).toBe(1); // version 01
    expect((flg >> 5) & 1).toBe(1); // block independence
  });
});
