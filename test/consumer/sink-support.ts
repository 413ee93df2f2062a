/**
 * Helpers for the downstream tests: a load of numbered samples sent to the gateway (every
 * answer kept), consumer CLI processes in sink mode (their pino lines collected), and the
 * check that every acknowledged sample is in the store.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import readline from 'node:readline';
import { expect } from 'vitest';
import { postMetrics, ROOT } from '../support/gateway-process.ts';
import type { ExportedSeries } from '../support/stores.ts';
import { scrapeAdmin } from '../support/admin-scrape.ts';

/** One request's answer. */
export interface Sent {
  client: string;
  seq: number;
  status: number | 'error';
}

/** The body of request `seq` of `client`: one gauge sample whose value and timestamp encode seq. */
export function sampleBody(client: string, seq: number, t0: number, metric = 'load_test') {
  return {
    metrics: [{ name: metric, value: seq, timestamp: t0 + seq, tags: { client, zone: 'eu west,1' }, type: 'gauge', help: 'numbered test samples' }],
  };
}

/** Clients sending numbered requests one after another until stop(). */
export interface SampleLoad {
  sent: Sent[];
  stop(): Promise<Sent[]>;
}

/** Starts `clients` clients `<prefix>-<n>`; `pauseMs` between one client's requests. */
export function startSampleLoad(port: number, prefix: string, clients: number, t0: number, pauseMs = 2, metric = 'load_test'): SampleLoad {
  const sent: Sent[] = [];
  let stopped = false;
  const runs = Array.from({ length: clients }, async (_, c) => {
    const client = `${prefix}-${c}`;
    for (let seq = 0; !stopped; seq++) {
      let status: number | 'error';
      try {
        status = (await postMetrics(port, client, sampleBody(client, seq, t0, metric))).status;
      } catch {
        status = 'error';
      }
      sent.push({ client, seq, status });
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    sent,
    async stop() {
      stopped = true;
      await Promise.all(runs);
      return sent;
    },
  };
}

/** Per client, the acknowledged (200) sequence numbers. */
export function acknowledged(sent: Sent[]): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const s of sent) {
    if (s.status !== 200) continue;
    if (!out.has(s.client)) out.set(s.client, new Set());
    out.get(s.client)!.add(s.seq);
  }
  return out;
}

/** Per client, the sequence numbers whose samples the store holds (value = seq at t0 + seq). */
export function storedSeqs(series: ExportedSeries[], t0: number): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const s of series) {
    const client = s.metric.client;
    if (!out.has(client)) out.set(client, new Set());
    s.values.forEach((v, i) => {
      const seq = Number(v);
      if (s.timestamps[i] === t0 + seq) out.get(client)!.add(seq);
    });
  }
  return out;
}

/** How many acknowledged samples the store lacks. */
export function missingCount(acked: Map<string, Set<number>>, stored: Map<string, Set<number>>): number {
  let n = 0;
  for (const [client, seqs] of acked) for (const s of seqs) if (!stored.get(client)?.has(s)) n++;
  return n;
}

/** Asserts that every acknowledged sample is stored, with its labels. */
export function expectAllStored(acked: Map<string, Set<number>>, series: ExportedSeries[], t0: number): void {
  const stored = storedSeqs(series, t0);
  for (const [client, seqs] of acked) {
    const missing = [...seqs].filter((s) => !stored.get(client)?.has(s));
    expect(missing, `${client}: acknowledged samples missing in the store`).toEqual([]);
  }
  for (const s of series) {
    expect(s.metric.zone).toBe('eu west,1');
  }
}

/** A consumer CLI child process in sink mode, its pino log lines (stdout) collected. */
export class SinkConsumerProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly logs: Record<string, unknown>[] = [];
  stderr = '';
  readonly exited: Promise<number | string>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['--import', './src/main/require-node.mjs', 'src/consumer/cli.ts', ...args], { cwd: ROOT });
    readline.createInterface({ input: this.child.stdout }).on('line', (l) => {
      try {
        this.logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        this.logs.push({ msg: l });
      }
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  }

  /** Log lines whose msg matches `re`. */
  logged(re: RegExp): Record<string, unknown>[] {
    return this.logs.filter((l) => typeof l.msg === 'string' && re.test(l.msg));
  }

  /** Partitions of the last assignment (null before any). */
  assigned(): number[] | null {
    const a = this.logs.filter((l) => Array.isArray(l.partitions) && typeof l.generation === 'number').at(-1);
    return a ? (a.partitions as number[]) : null;
  }

  /** Generation of the last assignment, or 0. */
  generation(): number {
    const a = this.logs.filter((l) => Array.isArray(l.partitions) && typeof l.generation === 'number').at(-1);
    return a ? (a.generation as number) : 0;
  }

  /** The admin port it printed (with --admin-port 0). */
  adminPort(): number | null {
    const l = this.logged(/consumer metrics on/).at(-1);
    return l ? (l.port as number) : null;
  }

  /** Its /metrics text (waits for the admin port to be printed). */
  async metrics(): Promise<string> {
    const deadline = Date.now() + 30_000;
    while (this.adminPort() === null && this.alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const port = this.adminPort();
    if (port === null) throw new Error(`no admin port (start it with --admin-port 0): ${this.describe()}`);
    return scrapeAdmin(port);
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }

  describe(): string {
    return `stdout: ${this.logs.map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${this.stderr}`;
  }
}

/** Sum of a metric's samples in Prometheus text (all label sets), 0 when absent. */
export function metricSum(text: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
