/**
 * Issue 9, hostile input over real HTTP: bodies that used to kill a worker, msgpackr
 * extensions, Content-Encoding with a decoded-size cap, Expect: 100-continue, UTF-8
 * rules for bodies and client ids, timestamps in seconds. Each answer is what the README's
 * "Bad input" section promises, and no worker dies on the way.
 */
import { once } from 'node:events';
import zlib from 'node:zlib';
import { Packr } from 'msgpackr';
import snappy from 'snappy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECT_INTERVAL_MS } from '../../src/main/admin-server.ts';
import { partitionFor } from '../../src/records/partitioner.ts';
import { SYNC_DECODE_LIMIT } from '../../src/workers/content-encoding.ts';
import { adminPortOf, consumeAll, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { metricsHead, rawRequest } from '../support/raw-http.ts';
import { scrapeAdmin, scrapeSample } from '../support/admin-scrape.ts';

let gateway: GatewayProcess;
let dataDir: string;
let adminPort: number;

beforeAll(async () => {
  dataDir = await tempDir();
  gateway = await startGateway(['--workers', '2', '--data-dir', dataDir, '--admin-port', '0']);
  adminPort = adminPortOf(gateway);
});
afterAll(async () => {
  if (gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

const good = JSON.stringify({ metrics: [{ name: 'cpu', value: 1 }] });
const gzipJson = { 'content-type': 'application/json', 'content-encoding': 'gzip' };

function workerDeaths(): number {
  return gateway.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('exited unexpectedly')).length;
}

describe('bodies that used to kill a worker are answered, and no worker dies', () => {
  it('an extra field nested 200,000 levels deep: 400 naming it', async () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    for (let i = 0; i < 4; i++) {
      const res = await postMetrics(gateway.port, 'deep', `{"metrics":[{"name":"a","value":1}],"x":${deep}}`);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('unknown field "x": the body has only "metrics"');
    }
    const res = await postMetrics(gateway.port, 'deep', `{"metrics":[{"name":"a","value":1,"tags":{"t":${deep}}}]}`);
    expect(res.body.error).toBe('metrics[0].tags.t must be a string');
  });

  it('a metric with 65,536 tags is stored (it used to throw in the encoder)', async () => {
    const tags: Record<string, string> = {};
    for (let i = 0; i < 65_536; i++) tags[`k${i}`] = 'v';
    for (let i = 0; i < 3; i++) expect((await postMetrics(gateway.port, 'wide', { metrics: [{ name: 'a', value: 1, tags }] })).status).toBe(200);
  });

  it("msgpackr's extensions are 400, among them the pointer-amplification body", async () => {
    const tags: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) tags[`t${i}`] = 'v';
    const body = new Packr({ structuredClone: true, useRecords: false }).pack({ metrics: new Array(20_000).fill({ name: 'a', value: 1, tags }) });
    const res = await postMetrics(gateway.port, 'ptr', body, { 'content-type': 'application/msgpack' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^body is not plain msgpack: MessagePack extension type at byte \d+/);
    const records = new Packr({ useRecords: true }).pack({ metrics: [{ name: 'a', value: 1 }] });
    expect((await postMetrics(gateway.port, 'rec', records, { 'content-type': 'application/msgpack' })).status).toBe(400);
  });

  it('no worker restarted', async () => {
    expect(workerDeaths()).toBe(0);
    expect(await scrapeSample(adminPort, 'metricstream_worker_restarts_total')).toBe(0);
  });
});

describe('Content-Encoding', () => {
  it('gzip, deflate, zstd and snappy bodies are decoded', async () => {
    const text = JSON.stringify({ metrics: [{ name: 'enc', value: 1 }] });
    const bodies: [string, Buffer][] = [
      ['gzip', zlib.gzipSync(text)],
      ['deflate', zlib.deflateSync(text)],
      ['zstd', zlib.zstdCompressSync(text)],
      ['snappy', snappy.compressSync(Buffer.from(text)) as Buffer],
    ];
    for (const [encoding, body] of bodies) {
      const res = await postMetrics(gateway.port, `enc-${encoding}`, body, { 'content-encoding': encoding });
      expect([encoding, res.status]).toEqual([encoding, 200]);
    }
  });

  it('bodies that decode to more than the worker inflates itself (SYNC_DECODE_LIMIT) are decoded in the pool and stored whole', async () => {
    const metrics = Array.from({ length: 3000 }, (_, i) => ({ name: `large_${i}`, value: i, tags: { host: `h${i % 7}` } }));
    const text = JSON.stringify({ metrics });
    expect(text.length).toBeGreaterThan(SYNC_DECODE_LIMIT);
    expect(text.length).toBeLessThan(1 << 20); // the default --max-decoded-body
    const bodies: [string, Buffer][] = [
      ['gzip', zlib.gzipSync(text)],
      ['deflate', zlib.deflateSync(text)],
      ['zstd', zlib.zstdCompressSync(text)],
    ];
    for (const [encoding, body] of bodies) {
      const res = await postMetrics(gateway.port, `large-${encoding}`, body, { 'content-encoding': encoding });
      expect([encoding, res.status, res.body.accepted]).toEqual([encoding, 200, 3000]);
    }
  });

  it('a plain body labelled gzip is 400, an unknown encoding 415', async () => {
    const plain = await postMetrics(gateway.port, 'c', good, gzipJson);
    expect(plain.status).toBe(400);
    expect(plain.body.error).toMatch(/^body is not valid gzip/);
    const br = await postMetrics(gateway.port, 'c', good, { 'content-encoding': 'br' });
    expect(br.status).toBe(415);
    expect(br.body.error).toMatch(/Content-Encoding "br" is not supported/);
  });

  it('a 200 MB gzip bomb is 413: from its trailer, or at the decoded cap when the trailer lies', async () => {
    const gzip = zlib.createGzip({ level: 9 });
    const out: Buffer[] = [];
    gzip.on('data', (d: Buffer) => out.push(d));
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 200; i++) gzip.write(zeros);
    gzip.end();
    await once(gzip, 'end');
    const bomb = Buffer.concat(out);
    expect(bomb.length).toBeLessThan(1024 * 1024); // under --max-body: only the decoded cap can stop it
    // Its trailer states the size (ISIZE): refused before inflating. One that lies about it
    // is inflated up to the cap, and refused there.
    const res = await postMetrics(gateway.port, 'bomb', bomb, gzipJson);
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('gzip body declares 209715200 decoded bytes, over the 1048576 bytes allowed (--max-decoded-body)');
    bomb.writeUInt32LE(0, bomb.length - 4);
    const liar = await postMetrics(gateway.port, 'bomb', bomb, gzipJson);
    expect(liar.status).toBe(413);
    expect(liar.body.error).toBe('gzip body decodes to more than the 1048576 bytes allowed (--max-decoded-body)');
    // A snappy block says its decoded size up front: refused before decompressing.
    const snappyBomb = snappy.compressSync(Buffer.alloc(8 * 1024 * 1024)) as Buffer;
    const s = await postMetrics(gateway.port, 'bomb', snappyBomb, { 'content-encoding': 'snappy' });
    expect(s.status).toBe(413);
  });

  it('bombs in bulk cost a worker a bounded amount of memory: full GCs as their bytes are refused', async () => {
    // 64 bombs, each refused once 1 MiB has been decoded: 64 MiB of buffers dropped. V8
    // alone would keep tens of MB of them per worker until it next looked
    // (src/workers/settle-heap.ts, DroppedBuffers); the worker collects every 16 MiB.
    const bomb = zlib.gzipSync(Buffer.alloc(16 << 20), { level: 9 });
    bomb.writeUInt32LE(0, bomb.length - 4); // a trailer that hides the size: inflated up to the cap
    const full = () => scrapeSample(adminPort, 'metricstream_worker_collections_total{kind="full"}');
    const before = await full();
    for (let i = 0; i < 64; i++) expect((await postMetrics(gateway.port, 'bomb', bomb, gzipJson)).status).toBe(413);
    await new Promise((r) => setTimeout(r, COLLECT_INTERVAL_MS)); // past the admin port's cached scrape
    expect(await full()).toBeGreaterThanOrEqual(before + 2);
    const text = await scrapeAdmin(adminPort);
    for (const m of text.matchAll(/^metricstream_worker_external_memory_bytes\{worker="(\d+)"\} (\d+)/gm)) {
      expect(Number(m[2]), `worker ${m[1]} external memory`).toBeLessThan(32 << 20);
    }
  });
});

describe('Expect: 100-continue', () => {
  it('a declared body over --max-body gets 413 and no 100 Continue', async () => {
    const answer = await rawRequest(
      gateway.port,
      'POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: c\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\nExpect: 100-continue',
    );
    expect(answer.statuses).toEqual([413]);
    expect(answer.json?.error).toMatch(/exceeds --max-body/);
  });

  it('a body within the limits is invited and accepted', async () => {
    const answer = await rawRequest(gateway.port, metricsHead(good, ['Authorization: cont', 'Content-Type: application/json', 'Expect: 100-continue']), good);
    expect(answer.statuses).toEqual([100, 200]);
  });
});

describe('text encoding and client ids', () => {
  it('invalid UTF-8 in a JSON body is 400 naming the byte offset', async () => {
    const body = Buffer.concat([Buffer.from('{"metrics":[{"name":"caf'), Buffer.from([0xe9]), Buffer.from('","value":1}]}')]);
    const res = await postMetrics(gateway.port, 'c', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('body is not valid UTF-8: invalid byte sequence at byte 24');
  });

  it('a UTF-8 BOM is accepted', async () => {
    const res = await postMetrics(gateway.port, 'bom', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(good)]));
    expect(res.status).toBe(200);
  });

  it('a UTF-8 client id is stored and partitioned byte-exact; a Latin-1 one is 400', async () => {
    const utf8 = await rawRequest(gateway.port, metricsHead(good, [Buffer.from('Authorization: café', 'utf8'), 'Content-Type: application/json']), good);
    expect(utf8.statuses).toEqual([200]);
    expect(utf8.json?.partition).toBe(partitionFor(Buffer.from('café', 'utf8'), 4));
    const latin1 = await rawRequest(gateway.port, metricsHead(good, [Buffer.from('Authorization: café', 'latin1'), 'Content-Type: application/json']), good);
    expect(latin1.statuses).toEqual([400]);
    expect(latin1.json?.error).toBe('client id is not valid UTF-8');
  });

  it('Bearer and Basic name the client by the token / user, never storing a scheme or password', async () => {
    expect((await postMetrics(gateway.port, 'Bearer tok-1', good)).status).toBe(200);
    expect((await postMetrics(gateway.port, `Basic ${Buffer.from('user-1:secret').toString('base64')}`, good)).status).toBe(200);
  });

  it('timestamps in seconds are 400 naming the field', async () => {
    const res = await postMetrics(gateway.port, 'c', { metrics: [{ name: 'a', value: 1, timestamp: 1_700_000_000 }] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('metrics[0].timestamp 1700000000 looks like seconds: send milliseconds since the epoch');
  });
});

describe('what was stored', () => {
  it('exactly the accepted records, with byte-exact keys', async () => {
    expect(await gateway.stop()).toBe(0);
    expect(workerDeaths()).toBe(0);
    const keys = (await consumeAll(dataDir)).map((r) => r.key).sort();
    expect(keys).toEqual(['bom', 'café', 'cont', 'enc-deflate', 'enc-gzip', 'enc-snappy', 'enc-zstd', 'large-deflate', 'large-gzip', 'large-zstd', 'tok-1', 'user-1', 'wide', 'wide', 'wide'].sort());
  });
});
