/**
 * Real metrics agents as child processes for the protocol tests: Prometheus and vmagent
 * (Debian packages `prometheus`, `victoria-metrics`), plus a tiny scrape target and the
 * polling helpers those tests share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { waitFor as pollUntil } from './wait-for.ts';

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** waitFor polling every 200 ms: the checks here query the agents' and stores' HTTP APIs. */
export function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 200): Promise<void> {
  return pollUntil(what, check, timeoutMs, { everyMs });
}

export interface AgentProcess {
  proc: ChildProcess;
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function startProcess(command: string, args: string[]): AgentProcess {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (d: Buffer) => {
    output.push(d.toString());
    if (output.length > 2000) output.splice(0, 1000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Starts Prometheus with `config` (YAML) in `dir`; resolves once its API answers. */
export async function startPrometheus(dir: string, config: string): Promise<AgentProcess & { port: number }> {
  const port = await freePort();
  const file = path.join(dir, 'prometheus.yml');
  await writeFile(file, config);
  const p = startProcess('prometheus', [
    `--config.file=${file}`,
    `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=info',
  ]);
  await waitFor('Prometheus ready', async () => {
    if (p.proc.exitCode !== null) throw new Error(`prometheus exited: ${p.output.join('')}`);
    try {
      return (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok;
    } catch {
      return false;
    }
  });
  return { ...p, port };
}

/** Starts vmagent with the given flags; resolves once its HTTP listener answers. */
export async function startVmagent(args: string[]): Promise<AgentProcess & { port: number }> {
  const port = await freePort();
  const p = startProcess('vmagent', [`-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=INFO', ...args]);
  await waitFor('vmagent ready', async () => {
    if (p.proc.exitCode !== null) throw new Error(`vmagent exited: ${p.output.join('')}`);
    try {
      return (await fetch(`http://127.0.0.1:${port}/health`)).ok;
    } catch {
      return false;
    }
  });
  return { ...p, port };
}

/** Every raw sample Prometheus holds for `selector` over the last `range`. */
export async function prometheusSamples(port: number, selector: string, range = '1h'): Promise<{ metric: Record<string, string>; values: [number, string][] }[]> {
  const url = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(`${selector}[${range}]`)}`;
  const res = (await (await fetch(url)).json()) as { status: string; data: { result: { metric: Record<string, string>; values: [number, string][] }[] } };
  if (res.status !== 'success') throw new Error(`query failed: ${JSON.stringify(res)}`);
  return res.data.result;
}

/**
 * The scrape section the agent tests give Prometheus and vmagent: one job scraping the
 * target at `port` every second (job `job`, a label of every scraped sample).
 */
export function scrapeConfigYaml(port: number, job = 'target'): string {
  return `scrape_configs:
  - job_name: ${job}
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:${port}']
`;
}

/**
 * A scrape target serving the text exposition format: a counter that grows on every
 * scrape, a gauge and a classic histogram, with labels.
 */
export async function startScrapeTarget(): Promise<{ port: number; scrapes: () => number; close(): Promise<void> }> {
  let scrapes = 0;
  const server = http.createServer((_req, res) => {
    scrapes++;
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(
      [
        '# HELP demo_requests_total Requests served.',
        '# TYPE demo_requests_total counter',
        `demo_requests_total{code="200",path="/a b"} ${scrapes * 3}`,
        `demo_requests_total{code="500",path="/é"} ${scrapes}`,
        '# HELP demo_temperature_celsius A gauge.',
        '# TYPE demo_temperature_celsius gauge',
        `demo_temperature_celsius ${20 + (scrapes % 5) * 0.25}`,
        '# HELP demo_latency_seconds A histogram.',
        '# TYPE demo_latency_seconds histogram',
        `demo_latency_seconds_bucket{le="0.1"} ${scrapes}`,
        `demo_latency_seconds_bucket{le="+Inf"} ${scrapes * 2}`,
        `demo_latency_seconds_sum ${scrapes * 0.3}`,
        `demo_latency_seconds_count ${scrapes * 2}`,
        '',
      ].join('\n'),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    scrapes: () => scrapes,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
