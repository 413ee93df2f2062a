/**
 * HTTP fuzz soak: tens of thousands of damaged requests against every endpoint of one
 * gateway (seeded PRNG): valid bodies of each protocol (remote_write 1.0 and 2.0, Influx,
 * OTLP protobuf and JSON, the seed's JSON and msgpack) with bytes flipped, cut, inserted
 * or repeated, varints and lengths blown up, nesting thousands deep, then sent plain or
 * compressed (gzip, deflate, zstd, snappy; honestly or under a false content-encoding) with
 * a right or wrong content-type. The decoders' own fuzz tests (test/protocols/) call
 * decode() in process; this goes through everything a client reaches: the body reader,
 * the decompressors and their limits, routing, auth, the protocols, the ring and the log.
 *
 *   npm run soak:http-fuzz                              # 20,000 requests, seed 1
 *   SOAK_REQUESTS=100000 SOAK_SEED=5 npm run soak:http-fuzz
 *   SOAK_IDLE_RSS=1 npm run soak:http-fuzz        # also the RSS 12 s after the last request
 *
 * Checked: no answer is a 500 and no worker crashes (a bug either way: the code refuses
 * bad input with a 4xx), a client sending valid bodies between the attacks gets 200 every
 * time, and at the end the whole log reads back clean.
 */
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { compressSync, uncompressSync } from 'snappy';
import { afterAll, expect, it } from 'vitest';
import { influxBody, otlpBody, otlpHistogramBody, remoteWriteBody, type ProtocolLoad } from '../../bench/e2e/protocol-bodies.ts';
import { buildBody, CONTENT_TYPES } from '../../src/load/bodies.ts';
import { adminPortOf, consumeAll, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { pick, prng } from '../support/prng.ts';
import { encode, ExportMetricsServiceRequestCamel, WriteRequestV2 } from '../support/protos.ts';
import { scrapeAdmin } from '../support/admin-scrape.ts';

const REQUESTS = Number(process.env.SOAK_REQUESTS ?? 20_000);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const FUZZERS = 4;

let gateway: GatewayProcess | undefined;
afterAll(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

/** A valid request of each shape the gateway takes, with the plain bytes to damage. */
interface Seed {
  load: ProtocolLoad;
  /** The body before the content-encoding the protocol requires (remote_write: snappy). */
  plain: Buffer;
  /** How the plain bytes are sent when not damaged further: remote_write's snappy. */
  encode(plain: Buffer): Buffer;
}

function seeds(): Seed[] {
  const now = Date.now();
  const identity = (b: Buffer) => b;
  const out: Seed[] = [];
  for (const k of [1, 20]) {
    const rw = remoteWriteBody(k, now);
    out.push({ load: rw, plain: uncompressSync(rw.bytes) as Buffer, encode: (b) => compressSync(b) });
    for (const load of [influxBody(k, now), otlpBody(k, now), otlpHistogramBody(k, now)]) out.push({ load, plain: load.bytes, encode: identity });
    // remote_write 2.0 (symbols table, label refs, metadata), snappy like 1.0.
    const symbols = ['', '__name__', 'host', 'a', 'job', 'fuzz', ...Array.from({ length: k }, (_, i) => `cpu_${i}`)];
    const v2 = Buffer.from(
      encode(WriteRequestV2, {
        symbols,
        timeseries: Array.from({ length: k }, (_, i) => ({ labels_refs: [1, 6 + i, 2, 3, 4, 5], samples: [{ value: i + 0.5, timestamp: now }], metadata: { type: 2, help_ref: 5 } })),
      }),
    );
    const v2Load = { path: '/api/v1/write', bytes: compressSync(v2), contentType: 'application/x-protobuf;proto=io.prometheus.write.v2.Request', headers: { 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0' } };
    out.push({ load: v2Load, plain: v2, encode: (b) => compressSync(b) });
    // OTLP/JSON: the protobuf body's JSON mapping (camelCase, 64-bit integers as strings).
    const otlp = otlpHistogramBody(k, now);
    const otlpJson = Buffer.from(JSON.stringify(ExportMetricsServiceRequestCamel.toObject(ExportMetricsServiceRequestCamel.decode(otlp.bytes), { longs: String, enums: Number })));
    out.push({ load: { path: '/v1/metrics', bytes: otlpJson, contentType: 'application/json' }, plain: otlpJson, encode: identity });
    for (const format of ['json', 'msgpack'] as const) {
      const bytes = buildBody(format, k, now);
      out.push({ load: { path: '/metrics', bytes, contentType: CONTENT_TYPES[format] }, plain: bytes, encode: identity });
    }
  }
  return out;
}

/** Zip bombs, made once: 16 MiB and 256 MiB of zeros, gzip and zstd (a few KB to 260 KB each). */
const BOMBS = [16 << 20, 256 << 20].flatMap((n) => {
  const zeros = Buffer.alloc(n);
  return [
    { encoding: 'gzip', body: zlib.gzipSync(zeros, { level: 9 }) },
    { encoding: 'zstd', body: zlib.zstdCompressSync(zeros) },
  ];
});

/** Damages `b` in one of a dozen ways; may return it unchanged (a valid request). */
function damage(random: () => number, b: Buffer): Buffer {
  const at = () => Math.floor(random() * (b.length + 1));
  const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  switch (Math.floor(random() * 12)) {
    case 0:
      return b;
    case 1: {
      const c = Buffer.from(b);
      for (let i = 0, n = 1 + Math.floor(random() * 8); i < n && c.length > 0; i++) c[Math.floor(random() * c.length)] ^= 1 << Math.floor(random() * 8);
      return c;
    }
    case 2:
      return b.subarray(0, at());
    case 3: {
      const i = at();
      return Buffer.concat([b.subarray(0, i), junk(1 + Math.floor(random() * 64)), b.subarray(i)]);
    }
    case 4: {
      // A slice repeated: duplicate fields, series, lines, keys.
      const i = at();
      const j = Math.min(b.length, i + Math.floor(random() * 200));
      return Buffer.concat([b.subarray(0, j), ...Array.from({ length: 1 + Math.floor(random() * 50) }, () => b.subarray(i, j)), b.subarray(j)]);
    }
    case 5: {
      // A byte that varints and length prefixes read as "more follows", many times over.
      const c = Buffer.from(b);
      for (let i = 0, n = 1 + Math.floor(random() * 4); i < n && c.length > 0; i++) {
        const from = Math.floor(random() * c.length);
        c.fill(0xff, from, Math.min(c.length, from + 1 + Math.floor(random() * 10)));
      }
      return c;
    }
    case 6:
      return junk(Math.floor(random() * 4096));
    case 7: {
      // Nesting thousands deep (JSON arrays and objects, msgpack arrays, protobuf messages).
      const depth = 1000 + Math.floor(random() * 100_000);
      const open = pick(random, ['[', '{"a":', '\x91', '\x0a\x80\x80\x04']);
      return Buffer.concat([b.subarray(0, at()), Buffer.from(open.repeat(depth), 'latin1')]);
    }
    case 8:
      // Huge numbers, exponents and strings where numbers belong.
      return Buffer.from(b.toString('latin1').replace(/\d+(\.\d+)?/g, () => pick(random, ['1e999999', '-0', 'NaN', '9'.repeat(400), '"1"', '0x1p3', ''])), 'latin1');
    case 9:
      // msgpack extensions, timestamps and bins spliced in.
      return Buffer.concat([b.subarray(0, at()), Buffer.from(pick(random, ['d6ff00000001', 'c7ff01', 'c8ffff7f', 'c4ffffffff', 'dfffffffff', 'ddffffffff']), 'hex'), b.subarray(at())]);
    case 10:
      return Buffer.concat([b, b]);
    default:
      return Buffer.from(b.toString('latin1').toUpperCase(), 'latin1');
  }
}

/** Resident memory of process `pid`, in MB. */
function rssOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) >> 10;
}

/**
 * Where the gateway's memory is, in MB: its RSS, then from the admin port the V8 heap
 * (in use/reserved) of the owner thread and of the workers together, and the workers'
 * external memory (buffers). RSS that grows while these stay flat is native memory: the
 * allocator, or a leak below JavaScript.
 */
async function memoryOf(pid: number, adminPort: number): Promise<string> {
  const rss = rssOf(pid);
  const text = await scrapeAdmin(adminPort);
  const sum = (name: string) => text.split('\n').filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const mb = (n: number) => Math.round(n / (1 << 20));
  const heap = (used: string, total: string) => `${mb(sum(used))}/${mb(sum(total))}`;
  return `${rss} (owner heap ${heap('metricstream_nodejs_heap_size_used_bytes ', 'metricstream_nodejs_heap_size_total_bytes ')}, workers' heaps ${heap('metricstream_worker_heap_used_bytes{', 'metricstream_worker_heap_total_bytes{')}, external ${mb(sum('metricstream_worker_external_memory_bytes{'))})`;
}

/** The request to send: a damaged body, encoded honestly or not, under some content-type. */
function request(random: () => number, seed: Seed): { path: string; body: Buffer; headers: Record<string, string> } {
  const headers: Record<string, string> = { 'content-type': seed.load.contentType, ...seed.load.headers, authorization: `fuzz_${Math.floor(random() * 4)}` };
  const damagedPlain = random() < 0.7;
  let body = damagedPlain ? seed.encode(damage(random, seed.plain)) : damage(random, seed.load.bytes);
  const r = random();
  if (r < 0.1) {
    const enc = pick(random, ['gzip', 'deflate', 'zstd'] as const);
    const plain = body;
    body = enc === 'gzip' ? zlib.gzipSync(plain) : enc === 'deflate' ? zlib.deflateSync(plain) : zlib.zstdCompressSync(plain);
    if (random() < 0.5) body = damage(random, body);
    headers['content-encoding'] = enc;
  } else if (r < 0.15) {
    // A zip bomb: megabytes of zeros in a few KB.
    const bomb = pick(random, BOMBS);
    body = bomb.body;
    headers['content-encoding'] = bomb.encoding;
  } else if (r < 0.2) {
    headers['content-encoding'] = pick(random, ['gzip', 'snappy', 'zstd', 'br', 'identity, gzip', 'x-unknown']);
  } else if (r < 0.25) {
    headers['content-type'] = pick(random, ['application/json', 'application/msgpack', 'application/x-protobuf', 'text/plain', 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'multipart/form-data', '']);
  }
  if (headers['content-type'] === '') delete headers['content-type'];
  const path = random() < 0.05 ? pick(random, ['/metrics', '/api/v1/write', '/write?db=x', '/api/v2/write?org=o&bucket=b', '/v1/metrics']) : seed.load.path;
  return { path, body, headers };
}

it(`${REQUESTS} damaged requests (seed ${SEED}): never a 500, never a crash, valid clients unaffected, the log reads back clean`, { timeout: REQUESTS * 20 + 300_000 }, async () => {
  const dataDir = await tempDir('metricstream-http-fuzz-');
  gateway = await startGateway(['--workers', '2', '--data-dir', dataDir, '--admin-port', '0']);
  const g = gateway;
  const adminPort = adminPortOf(g);
  const all = seeds();
  // The bodies damage starts from are valid: each is accepted as it is.
  for (const { load } of all) {
    const res = await fetch(`http://127.0.0.1:${g.port}${load.path}`, { method: 'POST', headers: { 'content-type': load.contentType, ...load.headers, authorization: 'seed' }, body: load.bytes });
    expect([200, 204], `${load.path} ${load.contentType}: ${await res.text()}`).toContain(res.status);
  }
  const statuses: Record<string, number> = {};
  let sent = 0;
  let fuzzing = true;
  const placed: { key: string; at: string }[] = [];
  // The gateway's memory every 20,000 requests: a leak shows as a line that keeps rising.
  const rssSamples: Promise<string>[] = [];
  const fuzzer = async (f: number) => {
    const random = prng(SEED * 1000 + f);
    while (sent < REQUESTS) {
      sent++;
      if (sent % 20_000 === 0) rssSamples.push(memoryOf(g.proc.pid!, adminPort));
      const { path, body, headers } = request(random, pick(random, all));
      let status: string;
      try {
        const res = await fetch(`http://127.0.0.1:${g.port}${path}`, { method: 'POST', headers, body });
        const text = await res.text();
        status = String(res.status);
        // The seed endpoint names where it stored the record: check it is there at the end.
        if (res.status === 200 && text.includes('"offset"')) {
          const { partition, offset } = JSON.parse(text) as { partition: number; offset: number };
          placed.push({ key: headers.authorization, at: `${partition}/${offset}` });
        }
      } catch (err) {
        // The server may answer early (413) and close while the body is still going out.
        status = `connection: ${((err as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (err as Error).message}`;
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const canary: { seq: number; status: number | string; partition?: number; offset?: number }[] = [];
  const valid = (async () => {
    for (let seq = 0; fuzzing; seq++) {
      try {
        const res = await postMetrics(g.port, 'canary', { metrics: [{ name: 'canary', value: seq }] });
        canary.push({ seq, status: res.status, partition: res.body.partition as number, offset: res.body.offset as number });
      } catch (err) {
        canary.push({ seq, status: String(err) });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await Promise.all(Array.from({ length: FUZZERS }, (_, f) => fuzzer(f)));
  } finally {
    fuzzing = false;
    await valid;
  }
  const rss = await memoryOf(g.proc.pid!, adminPort);
  // Workers give their heap back 10 s after their last request (src/workers/settle-heap.ts).
  if (process.env.SOAK_IDLE_RSS === '1') await new Promise((r) => setTimeout(r, 12_000));
  const idleRss = await memoryOf(g.proc.pid!, adminPort);
  expect(await g.stop()).toBe(0);
  gateway = undefined;
  const stored = await consumeAll(dataDir);

  const bugs = g.logs.filter((l) => l.what === 'internal_error' || /worker (exited|failed)/.test(String(l.msg)));
  console.log(`${REQUESTS} damaged requests, seed ${SEED}: answers ${JSON.stringify(statuses)}; canary ${canary.length} requests; ${placed.length} seed-endpoint 200s checked at their position; ${stored.length} records stored; gateway RSS at the end ${rss} MB (every 20,000 requests: ${(await Promise.all(rssSamples)).join(', ')} MB)${process.env.SOAK_IDLE_RSS === '1' ? `, 12 s later ${idleRss} MB` : ''}`);
  expect(bugs.map((l) => `${String(l.msg)} ${String(l.detail ?? '')}`.slice(0, 400))).toEqual([]);
  expect(statuses['500'] ?? 0).toBe(0);
  expect(canary.filter((c) => c.status !== 200)).toEqual([]);
  const keys = new Map(stored.map((r) => [`${r.partition}/${r.offset}`, r.key]));
  expect(placed.filter((p) => keys.get(p.at) !== p.key), 'damaged but accepted requests of the seed endpoint not at the position answered').toEqual([]);
  const positions = new Set(stored.filter((r) => r.key === 'canary').map((r) => `${r.partition}/${r.offset}/${r.value.metrics[0].value}`));
  expect(canary.filter((c) => !positions.has(`${c.partition}/${c.offset}/${c.seq}`))).toEqual([]);
});
