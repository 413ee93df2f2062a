/**
 * Kafka compression codecs for kafkajs whose compress() runs in a piscina pool
 * (src/kafka/compress-worker.ts), so compressing a drained batch never stalls the owner
 * thread's event loop. Decompress (consumer side) stays on the caller's side, through
 * zlib's and the napi codecs' async functions (libuv's thread pool).
 *
 * Small payloads are compressed inline: below INLINE_COMPRESS_BYTES (32 KiB) compressing
 * costs the owner at most ~0.1 ms (gzip, the slowest, does ~270 MB/s here), less than the
 * round trip to a pool thread (copy in, message, copy out); measured in bench/kafka-sink.ts,
 * where sending every 16 KiB partition batch through the pool halved lz4 throughput at 64
 * records per append.
 *
 * kafkajs keeps its codecs in one process-wide table (CompressionCodecs), so registration
 * is global and idempotent; the pool is shared by every sink in the process, created on
 * first use, and destroyed when the last sink that acquired it releases it. Idle pool
 * threads are unref'd by piscina and never keep the process alive.
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import kafkajs from 'kafkajs';
import { compressSync, decompress, type CodecName, type CompressionName } from './codec-impl.ts';
import { siblingModuleUrl } from '../main/module-url.ts';

const { CompressionTypes, CompressionCodecs } = kafkajs;

/** kafkajs compression type for each of our names. */
export const KAFKAJS_COMPRESSION: Record<CompressionName, number> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

/** Payloads smaller than this are compressed on the calling thread. */
export const INLINE_COMPRESS_BYTES = 32 * 1024;

let pool: Piscina | null = null;
let users = 0;
let registered = false;

/** Pool threads: leave a core to the owner and HTTP workers; at least one. */
function poolThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

function getPool(): Piscina {
  pool ??= new Piscina({
    filename: siblingModuleUrl('./compress-worker', import.meta.url).href,
    minThreads: 1,
    maxThreads: poolThreads(),
    idleTimeout: 30_000,
  });
  return pool;
}

/** Compresses `data` with `codec` on a pool thread. The input is copied to the worker. */
export async function compressInPool(codec: CodecName, data: Uint8Array): Promise<Buffer> {
  const out = (await getPool().run({ codec, data })) as Uint8Array;
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** Pool threads and tasks completed so far; null while no pool exists. */
export function compressPoolStats(): { threads: number; completed: number } | null {
  return pool ? { threads: pool.threads.length, completed: pool.completed } : null;
}

/** Marks one more user of the pool (a sink that compresses). */
export function acquireCompressPool(): void {
  users++;
}

/** Drops a user; the last one out destroys the pool threads. */
export async function releaseCompressPool(): Promise<void> {
  users = Math.max(0, users - 1);
  if (users > 0 || !pool) return;
  const p = pool;
  pool = null;
  await p.destroy();
}

/** The kafkajs encoder passed to compress(): only its bytes matter here. */
interface EncoderLike {
  buffer: Buffer;
}

function pooledCodec(codec: CodecName) {
  return {
    compress: async (encoder: EncoderLike): Promise<Buffer> => {
      const data = encoder.buffer;
      return data.length < INLINE_COMPRESS_BYTES ? compressSync(codec, data) : compressInPool(codec, data);
    },
    decompress: (buffer: Buffer): Promise<Buffer> => decompress(codec, buffer),
  };
}

/**
 * Installs our gzip, snappy, lz4 and zstd codecs into kafkajs's CompressionCodecs (gzip
 * replaces kafkajs's own so it too compresses in the pool). Safe to call repeatedly.
 */
export function registerKafkaCodecs(): void {
  if (registered) return;
  registered = true;
  const table = CompressionCodecs as unknown as Record<number, () => ReturnType<typeof pooledCodec>>;
  for (const name of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    const codec = pooledCodec(name);
    table[KAFKAJS_COMPRESSION[name]] = () => codec;
  }
}
