/**
 * Parses `npm run load` arguments into LoadOptions. Kept apart from the CLI's process
 * handling so the flag rules (defaults, either --requests or --duration) read in one
 * place; the usage text below must be kept in step with them by hand.
 */
import { parseArgs } from 'node:util';
import type { LoadOptions } from './run-load.ts';

/** Usage text printed by --help and after a usage error. */
export const USAGE = `Usage: npm run load -- --port PORT [options]

Loads POST /metrics: CLIENTS concurrent connections, connection i sending
Authorization: load_client_<i>, each sending REQUESTS requests (or for --duration).

Options:
  --port PORT                 gateway port (required)
  --host HOST                 gateway host (default 127.0.0.1)
  --clients N                 concurrent connections, one client id each (default 20)
  --requests N                requests per client; total = clients * N (default 50)
  --duration S                run for S seconds instead of --requests
  --metrics-per-request K     metrics in each request body (default 1)
  --format json|msgpack       request body encoding (default json)
  --timeout S                 seconds before an unanswered request times out (default 10)
  --json                      print one JSON summary object instead of the table
  -h, --help                  show this help

Exit status: 0 when the run completed and got at least one answer, 1 when no
request was answered (server unreachable), 2 on a usage error.`;

/** What the command line asks for: a load run, or just the help text. */
export type ParsedArgs =
  | { kind: 'help' }
  | { kind: 'run'; options: LoadOptions; json: boolean };

/** Thrown for any invalid command line; the message is meant for the user. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses argv (without node and script) or throws UsageError. */
export function parseLoadArgs(argv: string[]): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        clients: { type: 'string' },
        requests: { type: 'string' },
        duration: { type: 'string' },
        'metrics-per-request': { type: 'string' },
        format: { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { kind: 'help' };

  if (values.port === undefined) throw new UsageError('--port is required');
  if (values.requests !== undefined && values.duration !== undefined) {
    throw new UsageError('give either --requests or --duration, not both');
  }
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'msgpack') {
    throw new UsageError(`--format must be json or msgpack, got ${format}`);
  }
  const port = integer('--port', values.port);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const options: LoadOptions = {
    port,
    host: values.host ?? '127.0.0.1',
    clients: integer('--clients', values.clients ?? '20'),
    metricsPerRequest: integer('--metrics-per-request', values['metrics-per-request'] ?? '1'),
    format,
    timeoutSeconds: seconds('--timeout', values.timeout ?? '10'),
  };
  if (values.duration !== undefined) options.durationSeconds = seconds('--duration', values.duration);
  else options.requests = integer('--requests', values.requests ?? '50');
  return { kind: 'run', options, json: values.json ?? false };
}

function integer(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return n;
}

function seconds(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${flag} must be a positive number of seconds, got ${JSON.stringify(text)}`);
  }
  return n;
}
