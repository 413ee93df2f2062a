/**
 * Real time-series databases for the downstream tests, each a child process on 127.0.0.1
 * with its data in a temp dir: VictoriaMetrics single-node (Debian `victoria-metrics`)
 * and InfluxDB 1.x (Debian `influxdb`). Both are installed by .ci/install-debian-packages;
 * a missing binary fails the test with that hint, never skips it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

const HINT = 'run .ci/install-debian-packages';

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function requireBinary(name: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${name}`]);
  if (r.status !== 0) throw new Error(`${name} missing: ${HINT}`);
}

async function waitHttp(url: string, what: string, proc: ChildProcess, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${what} exited before answering: ${log()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url}: ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A running store: where to write, how to stop and restart it on the same port and data. */
export interface Store {
  readonly port: number;
  readonly base: string;
  running(): boolean;
  /** SIGTERM (a clean shutdown: the store flushes what it acknowledged), waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

abstract class StoreProcess implements Store {
  readonly port: number;
  readonly base: string;
  protected readonly dir: string;
  #proc: ChildProcess | null = null;
  #log = '';
  #exited: Promise<void> = Promise.resolve();

  constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
  }

  protected abstract command(): { cmd: string; args: string[]; env?: Record<string, string>; ready: string; name: string };

  /** The running process' id (undefined when stopped), e.g. to read its CPU time. */
  get pid(): number | undefined {
    return this.running() ? this.#proc!.pid : undefined;
  }

  running(): boolean {
    return this.#proc !== null && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  async start(): Promise<void> {
    const c = this.command();
    requireBinary(c.cmd);
    await mkdir(this.dir, { recursive: true });
    const proc = spawn(c.cmd, c.args, { env: { ...process.env, ...c.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const keep = (d: Buffer): void => {
      this.#log = (this.#log + d.toString()).slice(-4000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    await waitHttp(`${this.base}${c.ready}`, c.name, proc, () => this.#log);
  }

  async stop(): Promise<void> {
    if (!this.running()) return;
    this.#proc!.kill('SIGTERM');
    await this.#exited;
  }

  async destroy(): Promise<void> {
    if (this.running()) {
      this.#proc!.kill('SIGKILL');
      await this.#exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** One exported series of VictoriaMetrics' /api/v1/export. */
export interface ExportedSeries {
  metric: Record<string, string>;
  values: (number | string)[];
  timestamps: number[];
}

/**
 * VictoriaMetrics single-node. Samples are queryable at once: -search.latencyOffset=0s and
 * /internal/force_flush before each export.
 */
export class VictoriaMetrics extends StoreProcess {
  /** remote_write receive URL. */
  get writeUrl(): string {
    return `${this.base}/api/v1/write`;
  }

  protected command() {
    return {
      cmd: 'victoria-metrics',
      name: 'victoria-metrics',
      ready: '/health',
      args: [
        `-storageDataPath=${this.dir}`,
        `-httpListenAddr=127.0.0.1:${this.port}`,
        '-search.latencyOffset=0s',
        '-loggerLevel=ERROR',
        '-retentionPeriod=100y',
        '-search.disableCache',
        // VictoriaMetrics keeps every sample of a series unless deduplication is on: off here, duplicates are visible.
      ],
    };
  }

  /** Every series matching `selector` with all its samples (after a flush unless `flush` is false). */
  async export(selector: string, flush = true): Promise<ExportedSeries[]> {
    if (flush) await (await fetch(`${this.base}/internal/force_flush`)).arrayBuffer();
    const url = new URL(`${this.base}/api/v1/export`);
    url.searchParams.set('match[]', selector);
    const res = await fetch(url);
    const text = await res.text();
    if (!res.ok) throw new Error(`export ${selector}: HTTP ${res.status} ${text}`);
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ExportedSeries);
  }
}

/** Starts VictoriaMetrics on a free port with its data under `dir`. */
export async function startVictoriaMetrics(dir: string): Promise<VictoriaMetrics> {
  const vm = new VictoriaMetrics(path.join(dir, 'victoria-metrics'), await freePort());
  await vm.start();
  return vm;
}

/**
 * Prometheus (Debian `prometheus`) as a remote_write receiver: the reference
 * implementation of the protocol, strict where VictoriaMetrics is lenient (sorted labels,
 * out-of-order samples). No scrape targets.
 */
export class PrometheusReceiver extends StoreProcess {
  get writeUrl(): string {
    return `${this.base}/api/v1/write`;
  }

  protected command() {
    return {
      cmd: 'prometheus',
      name: 'prometheus',
      ready: '/-/ready',
      args: [
        '--config.file=/dev/null',
        `--storage.tsdb.path=${this.dir}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--web.enable-remote-write-receiver',
        '--log.level=error',
      ],
    };
  }

  /** An instant query (PromQL) at `time` (s); returns the result vector. */
  async query(promql: string, time?: number): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const url = new URL(`${this.base}/api/v1/query`);
    url.searchParams.set('query', promql);
    if (time !== undefined) url.searchParams.set('time', String(time));
    const res = await fetch(url);
    const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string };
    if (body.status !== 'success') throw new Error(`query ${promql}: ${body.error}`);
    return body.data.result;
  }
}

/** Starts a Prometheus remote_write receiver on a free port with its data under `dir`. */
export async function startPrometheus(dir: string): Promise<PrometheusReceiver> {
  const p = new PrometheusReceiver(path.join(dir, 'prometheus'), await freePort());
  await p.start();
  return p;
}

/** InfluxDB 1.x (influxd) with every directory in a temp dir, ports on 127.0.0.1, reporting off. */
export class InfluxDB extends StoreProcess {
  #rpcPort = 0;

  async init(): Promise<void> {
    this.#rpcPort = await freePort();
  }

  protected command() {
    return {
      cmd: 'influxd',
      name: 'influxd',
      ready: '/ping',
      args: ['-config', '/dev/null'],
      env: {
        INFLUXDB_REPORTING_DISABLED: 'true',
        INFLUXDB_BIND_ADDRESS: `127.0.0.1:${this.#rpcPort}`,
        INFLUXDB_HTTP_BIND_ADDRESS: `127.0.0.1:${this.port}`,
        INFLUXDB_META_DIR: path.join(this.dir, 'meta'),
        INFLUXDB_DATA_DIR: path.join(this.dir, 'data'),
        INFLUXDB_DATA_WAL_DIR: path.join(this.dir, 'wal'),
        INFLUXDB_MONITOR_STORE_ENABLED: 'false',
        INFLUXDB_HTTP_LOG_ENABLED: 'false',
        INFLUXDB_DATA_QUERY_LOG_ENABLED: 'false',
        INFLUXDB_LOGGING_LEVEL: 'error',
      },
    };
  }

  /** Runs an InfluxQL statement (`db` for SELECTs; times as ms since the epoch); returns the parsed JSON answer. */
  async query(q: string, db?: string): Promise<{ results: { series?: { name: string; columns: string[]; values: unknown[][]; tags?: Record<string, string> }[]; error?: string }[] }> {
    const url = new URL(`${this.base}/query`);
    url.searchParams.set('q', q);
    url.searchParams.set('epoch', 'ms');
    if (db) url.searchParams.set('db', db);
    const res = await fetch(url, { method: 'POST' });
    const text = await res.text();
    if (!res.ok) throw new Error(`influx ${q}: HTTP ${res.status} ${text}`);
    return JSON.parse(text);
  }

  /** Writes line protocol directly (test setup). */
  async write(db: string, lines: string): Promise<number> {
    const res = await fetch(`${this.base}/write?db=${encodeURIComponent(db)}`, { method: 'POST', body: lines });
    await res.arrayBuffer();
    return res.status;
  }
}

/** Starts InfluxDB 1.x on free ports with its data under `dir`. */
export async function startInfluxDB(dir: string): Promise<InfluxDB> {
  const db = new InfluxDB(path.join(dir, 'influxdb'), await freePort());
  await db.init();
  await db.start();
  return db;
}
