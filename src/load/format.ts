/** Renders a LoadSummary as the human-readable table `npm run load` prints. */
import type { LoadSummary } from './run-load.ts';

/** Returns the multi-line table for `summary`, ending with a newline. */
export function formatSummary(s: LoadSummary): string {
  const shape =
    s.requestsPerClient !== null
      ? `${s.clients} clients x ${s.requestsPerClient} requests`
      : `${s.clients} clients for ${s.durationSeconds}s`;
  const codes = Object.entries(s.statusCodes)
    .map(([code, n]) => `${code}: ${n}`)
    .join(', ');
  const rows: [string, string][] = [
    ['Target', `POST ${s.url} (${s.format}, ${s.metricsPerRequest} metric${s.metricsPerRequest === 1 ? '' : 's'}/request)`],
    ['Load', `${shape}${s.aborted ? ' (interrupted)' : ''}`],
    ['Requests', `${s.total} total, ${s.succeeded} 2xx in ${s.elapsedSeconds.toFixed(2)}s`],
    ['Success rate', `${(s.successRate * 100).toFixed(2)}%`],
    ['Requests/s', s.requestsPerSecond.toFixed(1)],
    ['Metrics/s', s.metricsPerSecond.toFixed(1)],
    [
      'Latency (ms)',
      `avg ${s.latencyMs.avg.toFixed(3)}  p50 ${s.latencyMs.p50.toFixed(3)}  ` +
        `p99 ${s.latencyMs.p99.toFixed(3)}  max ${s.latencyMs.max.toFixed(3)}`,
    ],
    ['Status codes', codes === '' ? 'none' : codes],
    ['Errors', `${s.errors} (timeouts ${s.timeouts}), unanswered ${s.unanswered}`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n') + '\n';
}
