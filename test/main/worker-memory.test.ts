/**
 * What an HTTP worker costs idle (src/main/worker-memory.ts, issue 15): started the way
 * the gateway starts it (its JavaScript copy, the compile cache in its environment, V8's gc
 * extension), it loads none of the builtins it does not use (undici, http2 and web streams
 * that an ESM import of node:http drags in; https, tls and crypto without TLS or tokens),
 * writes its compile cache and has run its settling GC by the time it says it listens;
 * after serving, once it has been quiet for 10 s, it gives its heap back once more.
 * Module lists and GC counts, not sizes: sizes depend on the Node build.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthSupervisor } from '../../src/auth/auth-supervisor.ts';
import { parseConfig } from '../../src/main/config.ts';
import { createGatewayStateStorage } from '../../src/main/gateway-state.ts';
import { siblingModuleUrl } from '../../src/main/module-url.ts';
import { compileCacheDir, workerModuleUrl } from '../../src/main/worker-js.ts';
import { exposeGcToWorkers, workerEnv } from '../../src/main/worker-memory.ts';
import { createDoorbellStorage } from '../../src/ring/doorbell.ts';
import { createRingStorage } from '../../src/ring/ring-storage.ts';
import type { HttpWorkerData } from '../../src/workers/http-worker.ts';
import { createWorkerMetricsStorage, readWorkerMetrics } from '../../src/workers/worker-metrics.ts';

/** The worker's --heap-release-after here: short, so the test need not wait minutes. */
const HEAP_RELEASE_AFTER_MS = 3000;

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/**
 * Runs in the worker before its entry (an --import preload): counts full GCs, and answers
 * {type:'probe'} with the modules loaded so far and that count.
 */
const PROBE = `data:text/javascript,${encodeURIComponent(`
import { parentPort } from 'node:worker_threads';
import { PerformanceObserver, constants } from 'node:perf_hooks';
let majorGcs = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++; }).observe({ entryTypes: ['gc'] });
parentPort.on('message', (m) => { if (m?.type === 'probe') setTimeout(() => parentPort.postMessage({ type: 'probe', modules: process.moduleLoadList, majorGcs }), 100); });
`)}`;

describe('an idle HTTP worker', () => {
  it('loads only the builtins it uses, fills the compile cache and settles its heap before it says it listens, and releases it again once quiet after serving', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'worker-memory-'));
    dirs.push(cache);
    const config = parseConfig(['--port', '0', '--host', '127.0.0.1', '--workers', '1'])!;
    const auth = new AuthSupervisor(config, pino({ level: 'silent' }));
    const workerData: HttpWorkerData = {
      workerId: 0,
      ring: createRingStorage(1 << 16, 4096),
      doorbell: createDoorbellStorage(),
      state: createGatewayStateStorage(),
      metrics: createWorkerMetricsStorage(),
      host: '127.0.0.1',
      port: 0,
      partitions: 1,
      acks: 1,
      maxBody: config.maxBody,
      maxDecodedBody: config.maxDecodedBody,
      maxRecordValue: 1 << 20,
      maxInflightBytes: config.maxInflightBytes,
      maxConnections: config.maxConnections,
      bodyTimeoutMs: config.bodyTimeoutMs,
      diskStallTimeoutMs: 5000,
      logErrors: true,
      heapReleaseAfterMs: HEAP_RELEASE_AFTER_MS,
      storeFormat: 'msgpack',
      auth: auth.workerData(),
    };
    exposeGcToWorkers();
    const compileCache = compileCacheDir(new URL(import.meta.url), [cache])!;
    expect(compileCache).toBe(path.join(cache, 'compile-cache'));
    const url = workerModuleUrl(siblingModuleUrl('../workers/http-worker', new URL('../../src/main/gateway.ts', import.meta.url).href));
    const worker = new Worker(url, { workerData, env: workerEnv(compileCache), execArgv: ['--import', PROBE], name: 'http-worker-test' });
    const askProbe = () =>
      new Promise<{ modules: string[]; majorGcs: number }>((resolve) => {
        const onMessage = (m: { type: string; modules: string[]; majorGcs: number }) => {
          if (m.type !== 'probe') return;
          worker.off('message', onMessage);
          resolve(m);
        };
        worker.on('message', onMessage);
        worker.postMessage({ type: 'probe' });
      });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        worker.on('message', (m: { type: string; port: number }) => m.type === 'listening' && resolve(m.port));
        worker.once('error', reject);
      });
      const probe = await askProbe();
      const loaded = new Set(probe.modules.map((m) => m.replace(/^NativeModule /, '')));
      expect(loaded.has('http')).toBe(true);
      for (const unused of ['internal/deps/undici/undici', 'http2', 'internal/webstreams/readablestream', 'https', 'tls', 'crypto']) {
        expect(loaded.has(unused), unused).toBe(false);
      }
      expect(probe.majorGcs).toBeGreaterThanOrEqual(1);
      // Node names the cache's subdirectory by its version; the worker flushed its entries.
      const [versioned] = await readdir(compileCache);
      expect((await readdir(path.join(compileCache, versioned!))).length).toBeGreaterThan(10);

      // Nothing served yet: no release however long it idles (the settling GC did that work).
      expect(readWorkerMetrics(workerData.metrics).heapReleases).toBe(0);
      // Served, then quiet: one release of its heap (V8 runs no memory reducer in a worker),
      // counted in its shared metrics, and a full GC more than it had.
      const firstRequestAt = Date.now();
      for (let i = 0; i < 3; i++) expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      while (readWorkerMetrics(workerData.metrics).heapReleases === 0) {
        if (Date.now() - firstRequestAt > HEAP_RELEASE_AFTER_MS + 60_000) throw new Error('no heap release a minute after the quiet period');
        await new Promise((r) => setTimeout(r, 250));
      }
      // Not before the quiet period (a lower bound: a slow machine only makes it later).
      expect(Date.now() - firstRequestAt).toBeGreaterThanOrEqual(HEAP_RELEASE_AFTER_MS);
      expect(readWorkerMetrics(workerData.metrics).heapReleases).toBe(1);
      expect((await askProbe()).majorGcs).toBeGreaterThan(probe.majorGcs);
    } finally {
      worker.postMessage({ type: 'drain' });
      await new Promise((resolve) => worker.once('exit', resolve));
    }
  });
});

describe('compileCacheDir', () => {
  it('takes the first writable candidate and gives up (undefined) when none is', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'worker-memory-'));
    dirs.push(root);
    const file = path.join(root, 'a-file');
    await (await import('node:fs/promises')).writeFile(file, '');
    const url = new URL('file:///nowhere/src/main/cli.ts');
    expect(compileCacheDir(url, [path.join(file, 'cache'), path.join(root, 'ok')])).toBe(path.join(root, 'ok', 'compile-cache'));
    expect(compileCacheDir(url, [path.join(file, 'cache')])).toBeUndefined();
  });
});
