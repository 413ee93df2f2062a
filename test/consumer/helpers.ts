/**
 * Test helpers for consumers: a log written with LogSink, consumer CLI child processes
 * whose output lines are collected, and waiting for a condition with a generous deadline.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from 'msgpackr';
import { LogSink } from '../../src/log/log-sink.ts';
import { ContentType } from '../../src/sink/sink.ts';
import type { SinkRecord } from '../../src/sink/sink.ts';
import { waitFor as pollUntil } from '../support/wait-for.ts';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'metricstream-consumer-'));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** A record of partition `p` whose value carries a unique sequence number. */
export function record(partition: number, seq: number): SinkRecord {
  return {
    partition,
    key: Buffer.from(`client-${partition}`),
    value: pack({ metrics: [{ name: 'cpu', value: seq }], seq }),
    timestamp: 1_700_000_000_000 + seq,
    contentType: ContentType.msgpack,
  };
}

/** An open LogSink on `dir`. */
export async function openSink(dir: string, partitions: number, extra: { segmentBytes?: number; retentionBytes?: number } = {}): Promise<LogSink> {
  const sink = new LogSink({ dataDir: dir, partitions, ...extra });
  await sink.open();
  return sink;
}

/** Appends `perPartition` records to every partition, sequence numbers from `firstSeq` on; returns them. */
export async function appendRound(sink: LogSink, partitions: number, perPartition: number, firstSeq: number): Promise<SinkRecord[]> {
  const batch: SinkRecord[] = [];
  let seq = firstSeq;
  for (let i = 0; i < perPartition; i++) for (let p = 0; p < partitions; p++) batch.push(record(p, seq++));
  const res = await sink.append(batch);
  if (res.error) throw new Error(res.error);
  return batch;
}

/** One output line of the consumer. */
export interface Line {
  partition: number;
  offset: number;
  key: string;
  timestamp: number;
  value: { seq: number; metrics: { name: string; value: number }[] };
}

/** A consumer CLI child process with its output collected as it arrives. */
export class ConsumerProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: Line[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  #partial = '';

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['--import', './src/main/require-node.mjs', 'src/consumer/cli.ts', ...args], { cwd: root });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const text = this.#partial + d;
      const end = text.lastIndexOf('\n');
      this.#partial = text.slice(end + 1);
      for (const l of text.slice(0, end + 1).split('\n')) if (l !== '') this.lines.push(JSON.parse(l) as Line);
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  /** Partitions of the last "reads partitions [..]" line on stderr (null before any). */
  assigned(): number[] | null {
    const all = [...this.stderr.matchAll(/generation (\d+): member \S+ reads partitions \[([\d,]*)\]/g)];
    const last = all.at(-1);
    if (!last) return null;
    return last[2] === '' ? [] : last[2].split(',').map(Number);
  }

  /** The generation of the last assignment line, or 0. */
  generation(): number {
    const all = [...this.stderr.matchAll(/generation (\d+): member/g)];
    return all.length ? Number(all.at(-1)![1]) : 0;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }
}

/** Runs the consumer CLI to its end; resolves with its exit code and output. */
export async function runConsumer(args: string[]): Promise<{ code: number | null; lines: Line[]; stderr: string }> {
  const c = new ConsumerProcess(args);
  const code = await c.exited;
  return { code, lines: c.lines, stderr: c.stderr };
}

/** waitFor polling every 25 ms with a 20 s default: the consumer tests' events come fast. */
export function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, explain?: () => string): Promise<void> {
  return pollUntil(what, cond, timeoutMs, { everyMs: 25, explain });
}

/** "partition:offset" of each line. */
export function ids(lines: Line[]): string[] {
  return lines.map((l) => `${l.partition}:${l.offset}`);
}
