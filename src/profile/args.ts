/** The `npm run profile` command line: flags, defaults and the checks behind exit 2. */
import { parseArgs } from 'node:util';
import { oneOf, parseInteger, parseSeconds, UsageError } from '../cli/args.ts';

export { UsageError };

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
                             broker with test/support/local-broker.ts; needs kcat)
  --metrics-per-request K    metrics in each request body (default 1)
  --connections N            concurrent load connections (default 20)
  --format json|msgpack      request body encoding (default json)
  --out DIR                  write here instead of profiles/<timestamp>/ (must be empty or absent)
  -h, --help                 this text`;

/** Parses argv (without node and script); returns undefined for --help. Throws UsageError. */
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
    throw new UsageError((e as Error).message);
  }
  if (values.help) return undefined;
  const mode = oneOf('mode', values.mode ?? 'file', ['file', 'kafka'] as const);
  const format = oneOf('format', values.format ?? 'json', ['json', 'msgpack'] as const);
  const brokers = values.brokers ?? '';
  if (brokers !== '' && mode !== 'kafka') throw new UsageError('--brokers needs --mode kafka');
  const durationSeconds = parseSeconds('duration', values.duration ?? '15');
  return {
    durationSeconds,
    workers: parseInteger('workers', values.workers ?? '2', 1, 256),
    mode,
    brokers,
    metricsPerRequest: parseInteger('metrics-per-request', values['metrics-per-request'] ?? '1', 1, 100_000),
    connections: parseInteger('connections', values.connections ?? '20', 1, 10_000),
    format,
    out: values.out,
  };
}

