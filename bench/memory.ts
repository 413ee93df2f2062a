/**
 * `npm run bench:memory`: the gateway's resident memory (RSS of the whole process, as
 * `ps -o rss` reports it) idle after start with 1, 2 and 16 HTTP workers, then under a
 * short autocannon load (20 connections, 100 metrics per request, --acks 1) with the
 * largest worker count, sampled every 100 ms (peak and last), and once more when the
 * gateway has been idle again for --after-idle seconds (default 12: the gateway is started
 * with --heap-release-after 10s, so a worker quiet for 10 s gives its heap back,
 * src/workers/settle-heap.ts; the gateway's own default is 5 minutes).
 *
 *   npm run bench:memory                      # the .ts sources, as `npm start` runs them
 *   npm run bench:memory -- --dist DIR        # the compiled package (DIR/main/cli.js)
 *   npm run bench:memory -- --workers 2,16 --load-seconds 10 --settle 5 --after-idle 12 -- --ring-bytes 4mb
 *   npm run bench:memory -- --workers 16 --body zstd-bomb      # what hostile bodies cost
 *
 * --node-flags "F …" adds these node flags (V8's too) to the gateway's own
 * (src/main/node-flags.ts), before the script, where they apply to the main isolate as well;
 * a later flag wins (`--no-single-threaded-gc` measures the gateway without its GC flag).
 *
 * --rate N holds the load to N requests/s in all (by default it sends as fast as the gateway
 * answers): memory grows with the rate, so two versions compare at one rate.
 *
 * --body is what the load sends: `json` (100 metrics, the default), `zstd-bomb` (256 MiB of
 * zeros in 8 KB of zstd, its frame stating the size), `zstd-bomb-streamed` (the same without
 * the size: decompressed up to the cap), `gzip-bomb` (16 MiB of zeros, its trailer stating
 * the size), `gzip-bomb-hidden` (the same, its trailer saying 0: decompressed up to the cap), `garbage` (900 KB of
 * spaces, a 400) or `gzip-json` (the 100 metrics gzipped). The bombs are refused with 413
 * at --max-decoded-body.
 *
 * Flags after a lone `--` go to the gateway. Figures are noisy on a loaded machine: the
 * load average is printed with every row; compare rows of one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { autocannon } from '../src/load/autocannon.ts';
import { buildBody, CONTENT_TYPES } from '../src/load/bodies.ts';
import { hiddenGzipBomb } from './hostile-bodies.ts';
import { GATEWAY_NODE_FLAGS } from '../src/main/node-flags.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** RSS of `pid` in KiB from /proc (what `ps -o rss` prints). */
function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/**
 * PSS of `pid` in KiB: RSS with each shared page divided among its mappers. RSS counts a
 * page once per mapping, and V8 maps the node binary's builtins (2 MB) once more for each
 * isolate, so a gateway's RSS counts those pages once per worker (31 MB at 16 workers)
 * while they are in memory once.
 */
function pssKb(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const mb = (kb: number): string => (kb / 1024).toFixed(0);
const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');

interface Started {
  child: ChildProcess;
  port: number;
  dataDir: string;
}

/** Starts a gateway with `workers` workers on a free port; resolves once it listens. */
async function startGateway(workers: number, dist: string | undefined, extra: string[], nodeFlags: string[]): Promise<Started> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ms-bench-memory-'));
  const entry = dist ? path.join(path.resolve(dist), 'main/cli.js') : path.join(ROOT, 'src/main/cli.ts');
  const args = [...GATEWAY_NODE_FLAGS, ...nodeFlags, '--disable-warning=TimeoutNegativeWarning', '--import', path.join(ROOT, 'src/main/require-node.mjs'), entry,
    '--workers', String(workers), '--port', '0', '--admin-port', 'off', '--data-dir', dataDir, ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before listening`)));
  });
  child.stdout!.resume();
  return { child, port, dataDir };
}

async function stop(g: Started): Promise<void> {
  const exited = new Promise((r) => g.child.once('exit', r));
  g.child.kill('SIGTERM');
  await exited;
  rmSync(g.dataDir, { recursive: true, force: true });
}

/** The body --body names, with its content-encoding. */
async function loadBody(name: string): Promise<{ body: Buffer; headers: Record<string, string> }> {
  const json = buildBody('json', 100);
  switch (name) {
    case 'json':
      return { body: json, headers: {} };
    case 'gzip-json':
      return { body: zlib.gzipSync(json), headers: { 'content-encoding': 'gzip' } };
    case 'zstd-bomb':
      return { body: zlib.zstdCompressSync(Buffer.alloc(256 << 20)), headers: { 'content-encoding': 'zstd' } };
    case 'zstd-bomb-streamed': {
      const stream = zlib.createZstdCompress();
      const out: Buffer[] = [];
      stream.on('data', (c: Buffer) => out.push(c));
      const ended = new Promise((r) => stream.on('end', r));
      for (let i = 0; i < 256; i++) stream.write(Buffer.alloc(1 << 20));
      stream.end();
      await ended;
      return { body: Buffer.concat(out), headers: { 'content-encoding': 'zstd' } };
    }
    case 'gzip-bomb':
      return { body: zlib.gzipSync(Buffer.alloc(16 << 20), { level: 9 }), headers: { 'content-encoding': 'gzip' } };
    case 'gzip-bomb-hidden':
      return { body: hiddenGzipBomb(), headers: { 'content-encoding': 'gzip' } };
    case 'garbage':
      return { body: Buffer.alloc(900_000, 0x20), headers: {} };
    default:
      throw new Error(`--body ${name}: use json, gzip-json, zstd-bomb, zstd-bomb-streamed, gzip-bomb, gzip-bomb-hidden or garbage`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dashdash = process.argv.indexOf('--', 2);
  const own = dashdash < 0 ? process.argv.slice(2) : process.argv.slice(2, dashdash);
  // The release after a burst within --after-idle; a later --heap-release-after overrides it.
  const extra = ['--heap-release-after', '10s', ...(dashdash < 0 ? [] : process.argv.slice(dashdash + 1))];
  const { values } = parseArgs({
    args: own,
    options: {
      workers: { type: 'string', default: '1,2,16' },
      settle: { type: 'string', default: '3' },
      'load-seconds': { type: 'string', default: '10' },
      'after-idle': { type: 'string', default: '12' },
      dist: { type: 'string' },
      body: { type: 'string', default: 'json' },
      rate: { type: 'string' },
      'node-flags': { type: 'string', default: '' },
    },
  });
  const nodeFlags = values['node-flags'].split(' ').filter((f) => f !== '');
  const sent = await loadBody(values.body);
  const counts = values.workers.split(',').map(Number);
  const settleMs = Number(values.settle) * 1000;
  console.log(`node ${process.version}, ${os.availableParallelism()} CPUs, source: ${values.dist ?? 'src (.ts)'}, gateway flags: ${extra.join(' ') || '(defaults)'}${nodeFlags.length > 0 ? `, node flags: ${nodeFlags.join(' ')}` : ''}`);
  for (const workers of counts) {
    const g = await startGateway(workers, values.dist, extra, nodeFlags);
    await sleep(settleMs);
    console.log(`idle      workers=${String(workers).padStart(2)}  rss=${mb(rssKb(g.child.pid!))} MB  pss=${mb(pssKb(g.child.pid!))} MB  (load average ${load()})`);
    if (workers === counts[counts.length - 1] && Number(values['load-seconds']) > 0) {
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssKb(g.child.pid!))), 100);
      const result = await autocannon({
        url: `http://127.0.0.1:${g.port}/metrics`,
        method: 'POST',
        body: sent.body,
        headers: { 'content-type': CONTENT_TYPES.json, authorization: 'bench-memory', ...sent.headers },
        connections: 20,
        duration: Number(values['load-seconds']),
        ...(values.rate === undefined ? {} : { overallRate: Number(values.rate) }),
        timeout: 10,
        sampleInt: 1000,
        setupClient: () => {},
      });
      clearInterval(sampler);
      const last = rssKb(g.child.pid!);
      console.log(`load      workers=${String(workers).padStart(2)}  rss peak=${mb(peak)} MB, at end=${mb(last)} MB  pss at end=${mb(pssKb(g.child.pid!))} MB  (${Math.round(Object.values(result.statusCodeStats).reduce((a, c) => a + c.count, 0) / result.duration)} req/s of ${values.body}, 20 connections, answers ${Object.entries(result.statusCodeStats).map(([code, c]) => `${c.count} ${code}`).join(', ')}; load average ${load()})`);
      await sleep(Number(values['after-idle']) * 1000);
      console.log(`idle again workers=${String(workers).padStart(2)}  rss=${mb(rssKb(g.child.pid!))} MB  pss=${mb(pssKb(g.child.pid!))} MB  (${values['after-idle']} s after the load; load average ${load()})`);
    }
    await stop(g);
  }
}

await main();
