/** The `npm run profile` command line: flags, defaults and the checks behind exit 2. */
import { parseArgs } from 'node:util';

export class ProfileUsageError extends Error {}

export interface ProfileOptions {
  /** Seconds of load. */
  durationSeconds: number;
  workers: number;
  mode: 'file' | 'kafka';
  /** Kafka bootstrap servers; empty in kafka mode means "start a local mock broker". */
  brokers: string;
  metricsPerRequest: number;
  /** Concurrent load connections (one client id each). */
  connections: number;
  format: 'json' | 'msgpack';
  /** The folder to write into; undefined means profiles/<timestamp>/ under the project. */
  out: string | undefined;
}

export const PROFILE_USAGE = `Usage: npm run profile -- [options]

Starts the gateway under node --cpu-prof (one V8 profile per thread), loads it, stops it
with SIGTERM, and writes a flame graph per thread plus index.html and summary.md into
profiles/<timestamp>/ (or --out).

Options:
  --duration S               seconds of load (default 15)
  --workers N                HTTP worker threads (default 2)
  --mode file|kafka          gateway sink (default file, on a temporary data dir)
  --brokers H:P[,H:P]        kafka mode: bootstrap servers (default: start a local mock
                             broker with src/kafka/local-broker.ts; needs kcat)
  --metrics-per-request K    metrics in each request body (default 1)
  --connections N            concurrent load connections (default 20)
  --format json|msgpack      request body encoding (default json)
  --out DIR                  write here instead of profiles/<timestamp>/ (must be empty or absent)
  -h, --help                 this text`;

/** Parses argv (without node and script); returns undefined for --help. Throws ProfileUsageError. */
export function parseProfileArgs(argv: string[]): ProfileOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        duration: { type: 'string' },
        workers: { type: 'string' },
        mode: { type: 'string' },
        brokers: { type: 'string' },
        'metrics-per-request': { type: 'string' },
        connections: { type: 'string' },
        format: { type: 'string' },
        out: { type: 'string' },
      },
    }));
  } catch (e) {
    throw new ProfileUsageError((e as Error).message);
  }
  if (values.help) return undefined;
  const mode = values.mode ?? 'file';
  if (mode !== 'file' && mode !== 'kafka') throw new ProfileUsageError(`--mode: "${mode}" must be file or kafka`);
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'msgpack') throw new ProfileUsageError(`--format: "${format}" must be json or msgpack`);
  const brokers = values.brokers ?? '';
  if (brokers !== '' && mode !== 'kafka') throw new ProfileUsageError('--brokers needs --mode kafka');
  const durationSeconds = Number(values.duration ?? '15');
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw new ProfileUsageError(`--duration: "${values.duration}" must be a positive number of seconds`);
  }
  return {
    durationSeconds,
    workers: integer('workers', values.workers ?? '2', 1, 256),
    mode,
    brokers,
    metricsPerRequest: integer('metrics-per-request', values['metrics-per-request'] ?? '1', 1, 100_000),
    connections: integer('connections', values.connections ?? '20', 1, 10_000),
    format,
    out: values.out,
  };
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
    throw new ProfileUsageError(`--${flag}: "${text}" must be an integer from ${min} to ${max}`);
  }
  return n;
}
