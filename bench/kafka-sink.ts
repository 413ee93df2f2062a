/**
 * Kafka sink benchmark against librdkafka's mock cluster (3 brokers, started here; direct,
 * no proxy in this process to steal the event loop, unless an idempotent row needs it).
 *
 * 1. Append throughput at acks=all: batches of 1, 64 and 1024 records of ~1 KiB (msgpack
 *    metrics, compressible like real ones), compression none vs lz4 (piscina pool). Each
 *    case runs sequential appends (as the owner does) for --seconds, bounded by
 *    --max-records. Reports records/s, MiB/s, append latency p50/p99 and the owner's
 *    event-loop delay (perf_hooks.monitorEventLoopDelay) meanwhile.
 * 2. Event-loop responsiveness while compressing 1024-record batches (~1 MiB) with lz4,
 *    zstd and gzip: inline (sync, on this thread) vs the piscina pool vs the codecs' own
 *    async functions (libuv's thread pool; no piscina, no copies).
 * The mock broker keeps only ~5 MB per partition (older records are trimmed): fine for
 * throughput, and why this bench never reads back.
 *
 * Run: node_modules/.bin/node bench/kafka-sink.ts [--seconds 3] [--max-records 200000]
 *      [--idempotent both|on|off] (the gateway's default at acks all is on; both = the
 *      cost of idempotence, row by row) [--throughput-only]
 *      [--encode-only] (3. only, no broker)
 * 3. The owner thread's cost of encoding one Produce request: kafkajs's encoder against
 *    ours (src/kafka/produce-encoder.ts), interleaved rounds, medians; the records the
 *    gateway sends at 1 and at 100 metrics per request.
 * Needs kcat (.ci/install-debian-packages). Figures depend on the machine; the mock broker shares it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pack } from 'msgpackr';
import { startLocalBroker } from '../test/support/local-broker.ts';
import { KafkaSink } from '../src/kafka/kafka-sink.ts';
import { createRequire } from 'node:module';
import { compressAsync, compressSync, type CodecName } from '../src/kafka/codec-impl.ts';
import { encodeProduceRequest, type ProduceArgs } from '../src/kafka/produce-encoder.ts';
import { buildBody } from '../src/load/bodies.ts';
import { acquireCompressPool, compressInPool, releaseCompressPool } from '../src/kafka/compress-pool.ts';
import { silentLogger } from '../src/kafka/kafkajs-log.ts';
import { partitionFor } from '../src/records/partitioner.ts';
import { ContentType, type SinkRecord } from '../src/sink/sink.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    'max-records': { type: 'string', default: '200000' },
    idempotent: { type: 'string', default: 'both' },
    'throughput-only': { type: 'boolean', default: false },
    'encode-only': { type: 'boolean', default: false },
  },
});
const IDEMPOTENT = { both: [false, true], on: [true], off: [false] }[args.idempotent as 'both' | 'on' | 'off'];
if (IDEMPOTENT === undefined) throw new Error('--idempotent must be both, on or off');
const SECONDS = Number(args.seconds);
const MAX_RECORDS = Number(args['max-records']);

/** One ~1 KiB msgpack value like a worker would encode: eight tagged metrics, padded. */
function metricValue(i: number): Buffer {
  const metrics = [];
  for (let m = 0; m < 8; m++) {
    metrics.push({
      name: `http.server.requests.${['count', 'latency_ms', 'bytes'][m % 3]}`,
      value: Math.round(Math.random() * 100_000) / 100,
      ts: 1_700_000_000_000 + i,
      tags: { host: `web-${i % 16}`, region: 'eu-west-1', route: `/api/v1/items/${m}` },
    });
  }
  let v = pack({ metrics });
  if (v.length < 1024) v = Buffer.concat([v, Buffer.alloc(1024 - v.length, 0x20)]);
  return v;
}

function makeBatch(size: number, seq: number, pool: Buffer[]): SinkRecord[] {
  const batch: SinkRecord[] = [];
  for (let i = 0; i < size; i++) {
    const key = Buffer.from(`client-${(seq + i) % 1000}`);
    batch.push({
      partition: partitionFor(key, 4),
      key,
      value: pool[(seq + i) % pool.length],
      timestamp: Date.now(),
      contentType: ContentType.msgpack,
    });
  }
  return batch;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const ms = (ns: number): string => (ns / 1e6).toFixed(1);

async function throughput(bootstrap: string, values: Buffer[]): Promise<void> {
  console.log('\n## Append throughput, acks=all, ~1 KiB records, 3 mock brokers, 4 partitions\n');
  console.log('| compression | batch | idempotent | appends | records/s | MiB/s | append p50 ms | append p99 ms | loop delay p99 ms | loop delay max ms |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const compression of ['none', 'lz4'] as const) {
    for (const size of [1, 64, 1024]) for (const idempotent of IDEMPOTENT) {
      const topic = `bench-${compression}-${size}-${idempotent ? 'idem' : 'plain'}-${Date.now()}`;
      const sink = new KafkaSink({
        brokers: bootstrap.split(','),
        topic,
        acks: -1,
        compression,
        idempotent,
        flushTimeoutMs: 5000,
        logger: silentLogger,
      });
      await sink.open();
      if (!sink.isReady()) throw new Error(`sink not ready: ${sink.lastFailure()}`);
      // warm-up: connections to every leader, pool threads, JIT
      for (let i = 0; i < 3; i++) await sink.append(makeBatch(Math.min(size, 64), i, values));

      const h = monitorEventLoopDelay({ resolution: 1 });
      const lat: number[] = [];
      let records = 0;
      let bytes = 0;
      let seq = 0;
      h.enable();
      const start = process.hrtime.bigint();
      const until = Date.now() + SECONDS * 1000;
      while (Date.now() < until && records < MAX_RECORDS) {
        const batch = makeBatch(size, seq, values);
        seq += size;
        const t = process.hrtime.bigint();
        const r = await sink.append(batch);
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
        if (r.error) throw new Error(`append failed: ${r.error}`);
        records += size;
        for (const rec of batch) bytes += rec.value.length + rec.key.length;
      }
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      h.disable();
      await sink.close();
      lat.sort((a, b) => a - b);
      console.log(
        `| ${compression} | ${size} | ${idempotent ? 'on' : 'off'} | ${lat.length} | ${Math.round(records / secs)} | ${(bytes / secs / 1048576).toFixed(1)} | ` +
          `${pct(lat, 50).toFixed(2)} | ${pct(lat, 99).toFixed(2)} | ${ms(h.percentile(99))} | ${ms(h.max)} |`,
      );
    }
  }
}

async function loopDelayWhileCompressing(values: Buffer[]): Promise<void> {
  console.log('\n## Owner event-loop delay while compressing 1024-record (~1 MiB) payloads\n');
  console.log('| codec | where | payloads | total ms | MiB/s | loop delay p50 ms | p99 ms | max ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  const payload = Buffer.concat(values.slice(0, 1024)); // what one partition batch would carry
  const N = 32;
  acquireCompressPool();
  try {
    for (const codec of ['lz4', 'zstd', 'gzip'] as CodecName[]) {
      // warm both paths (pool thread start, JIT, codec tables) outside the measurement
      for (let i = 0; i < 3; i++) {
        compressSync(codec, payload);
        await compressInPool(codec, payload);
        await compressAsync(codec, payload);
      }
      for (const where of ['inline', 'pool', 'libuv-async'] as const) {
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        const t = process.hrtime.bigint();
        for (let i = 0; i < N; i++) {
          if (where === 'inline') {
            compressSync(codec, payload);
            // yield like the owner would between batches, so the monitor can sample
            await new Promise((r) => setImmediate(r));
          } else if (where === 'pool') {
            await compressInPool(codec, payload);
          } else {
            await compressAsync(codec, payload);
          }
        }
        const total = Number(process.hrtime.bigint() - t) / 1e6;
        h.disable();
        console.log(
          `| ${codec} | ${where} | ${N} | ${total.toFixed(0)} | ${((payload.length * N) / 1048576 / (total / 1000)).toFixed(0)} | ` +
            `${ms(h.percentile(50))} | ${ms(h.percentile(99))} | ${ms(h.max)} |`,
        );
      }
    }
  } finally {
    await releaseCompressPool();
  }
}

/**
 * kafkajs's Produce v3 encoder (what v4-v7 use) against ours, on requests like the
 * gateway's: 4 partitions, client-id keys, a content-type header, msgpack values of a
 * 1-metric and a 100-metric body. Rounds alternate between the two; medians of 7.
 */
async function encodeCost(): Promise<void> {
  const require = createRequire(import.meta.url);
  const kafkajsV3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (a: ProduceArgs) => { encode(): Promise<{ buffer: Buffer }> };
  const Long = require('kafkajs/src/utils/long') as { fromInt(v: number): unknown };
  const header = { 'content-type': Buffer.from('application/msgpack') };
  console.log('\n## Produce request encoding (owner thread), µs per record, medians of 7 interleaved rounds\n');
  console.log('| records × value | kafkajs | ours | × |');
  console.log('|---|--:|--:|--:|');
  for (const [records, metrics] of [[200, 1], [50, 100], [4, 1]] as const) {
    const value = pack(JSON.parse(buildBody('json', metrics).toString()));
    const partitions = [0, 1, 2, 3].map((partition) => ({
      partition,
      firstSequence: 0,
      messages: Array.from({ length: records / 4 }, (_, i) => ({ key: Buffer.from(`load_client_${i}`), value, headers: header, timestamp: String(Date.now() + i) })),
    }));
    const a: ProduceArgs = { acks: -1, timeout: 10_000, producerId: Long.fromInt(1), producerEpoch: 0, topicData: [{ topic: 'metrics', partitions }] };
    const timed = async (f: () => Promise<unknown>): Promise<number> => {
      const t = performance.now();
      let k = 0;
      while (performance.now() - t < 300) {
        await f();
        k++;
      }
      return ((performance.now() - t) * 1000) / k / records;
    };
    const theirs: number[] = [];
    const ours: number[] = [];
    for (let round = 0; round < 7; round++) {
      theirs.push(await timed(() => kafkajsV3(a).encode()));
      ours.push(await timed(async () => encodeProduceRequest(a)));
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[3];
    console.log(`| ${records} × ${value.length} B | ${med(theirs).toFixed(2)} | ${med(ours).toFixed(2)} | ${(med(theirs) / med(ours)).toFixed(1)} |`);
  }
}

async function main(): Promise<void> {
  if (args['encode-only']) return encodeCost();
  const values = Array.from({ length: 1024 }, (_, i) => metricValue(i));
  const avg = values.reduce((s, v) => s + v.length, 0) / values.length;
  console.log(`# Kafka sink bench (record value ${avg.toFixed(0)} B, ${SECONDS}s per case, node ${process.version})`);
  // An idempotent producer needs the proxy (librdkafka 2.0's mock names a controller that
  // does not exist; test/support/kafka-proxy.ts fixes it): then every row goes through it, so
  // idempotent on/off compare on the same path.
  const proxy = IDEMPOTENT.includes(true);
  console.log(proxy ? 'through the KafkaProxy (in this process)' : 'direct to the mock brokers (no proxy)');
  const broker = await startLocalBroker({ brokers: 3, proxy });
  try {
    await throughput(broker.bootstrap, values);
  } finally {
    await broker.stop();
  }
  if (!args['throughput-only']) {
    await loopDelayWhileCompressing(values);
    await encodeCost();
  }
}

await main();
