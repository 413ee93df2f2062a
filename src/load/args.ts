/**
 * Parses `npm run load` arguments into LoadOptions. Kept apart from the CLI's process
 * handling so the flag rules (defaults, either --requests or --duration) read in one
 * place; the usage text below must be kept in step with them by hand.
 */
import { parseArgs } from 'node:util';
import { oneOf, parseInteger, parseSeconds, UsageError } from '../cli/args.ts';
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

export { UsageError };

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
  const format = oneOf('format', values.format ?? 'json', ['json', 'msgpack'] as const);
  const port = parseInteger('port', values.port, 1, 65535);
  const options: LoadOptions = {
    port,
    host: values.host ?? '127.0.0.1',
    clients: parseInteger('clients', values.clients ?? '20', 1),
    metricsPerRequest: parseInteger('metrics-per-request', values['metrics-per-request'] ?? '1', 1),
    format,
    timeoutSeconds: parseSeconds('timeout', values.timeout ?? '10'),
  };
  if (values.duration !== undefined) options.durationSeconds = parseSeconds('duration', values.duration);
  else options.requests = parseInteger('requests', values.requests ?? '50', 1);
  return { kind: 'run', options, json: values.json ?? false };
}
