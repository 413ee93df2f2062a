/**
 * The byte-level Kafka compression codecs, with no kafkajs: sync compress (run inside the
 * piscina worker, or inline for small payloads), async compress on libuv's thread pool
 * (for comparison in bench/kafka-sink.ts) and async decompress (consumers: zlib and the
 * napi codecs run it on libuv's thread pool, so it does not block their event loop).
 * Formats are what Kafka brokers and other clients expect in a v2 record batch:
 * - gzip: a gzip member (node:zlib).
 * - snappy: one raw snappy block on write; on read also Xerial framing, which the Java
 *   producer writes (magic 0x82 "SNAPPY" 0, versions, then [int32 length][block]...).
 * - lz4: an LZ4 frame with independent blocks (lz4-napi, lz4_flex); Java's
 *   KafkaLZ4BlockInputStream and librdkafka read it.
 * - zstd: a zstd frame (node:zlib, built into Node >= 22.15: no native package needed).
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import snappy from 'snappy';
import lz4 from 'lz4-napi';

/** Compression names accepted by the sink; 'none' never reaches a codec. */
export type CodecName = 'gzip' | 'snappy' | 'lz4' | 'zstd';
export type CompressionName = 'none' | CodecName;

export const CODEC_NAMES: readonly CodecName[] = ['gzip', 'snappy', 'lz4', 'zstd'];

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/** Compresses `data` with `codec`, synchronously (blocks the calling thread). */
export function compressSync(codec: CodecName, data: Uint8Array): Buffer {
  switch (codec) {
    case 'gzip':
      return zlib.gzipSync(data);
    case 'snappy':
      return snappy.compressSync(data);
    case 'lz4':
      return lz4.compressFrameSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    case 'zstd':
      return zlib.zstdCompressSync(data);
  }
}

/** Compresses `data` with `codec` on libuv's thread pool (zlib, napi async functions). */
export function compressAsync(codec: CodecName, data: Uint8Array): Promise<Buffer> {
  switch (codec) {
    case 'gzip':
      return gzip(data);
    case 'snappy':
      return snappy.compress(data);
    case 'lz4':
      return lz4.compressFrame(data);
    case 'zstd':
      return zstdCompress(data);
  }
}

/** Decompresses a Kafka record-batch payload written with `codec`, off the event loop. */
export async function decompress(codec: CodecName, data: Buffer): Promise<Buffer> {
  switch (codec) {
    case 'gzip':
      return gunzip(data);
    case 'snappy':
      return isXerial(data) ? unframeXerial(data) : ((await snappy.uncompress(data, { asBuffer: true })) as Buffer);
    case 'lz4':
      return lz4.decompressFrame(data);
    case 'zstd':
      return zstdDecompress(data);
  }
}

function isXerial(data: Buffer): boolean {
  return data.length >= 16 && data.subarray(0, 8).equals(XERIAL_MAGIC);
}

async function unframeXerial(data: Buffer): Promise<Buffer> {
  const blocks: Buffer[] = [];
  let pos = 16; // magic, version, compatible version
  while (pos + 4 <= data.length) {
    const len = data.readInt32BE(pos);
    pos += 4;
    if (len < 0 || pos + len > data.length) throw new Error('truncated xerial snappy block');
    blocks.push((await snappy.uncompress(data.subarray(pos, pos + len), { asBuffer: true })) as Buffer);
    pos += len;
  }
  return Buffer.concat(blocks);
}
