/**
 * Reading the gateway's admin /metrics in tests, one way everywhere. The gateway collects
 * its workers' and sinks' figures at most once a second, so a sample may be up to a second
 * old: poll (waitFor) for a value that changes, read once for one that is already settled.
 */
import { adminPortOf, type GatewayProcess } from './gateway-process.ts';
import { waitFor } from './wait-for.ts';

/** The Prometheus text of the admin port `adminPort` (or of gateway `g`, started with --admin-port 0). */
export async function scrapeAdmin(target: number | GatewayProcess): Promise<string> {
  const port = typeof target === 'number' ? target : adminPortOf(target);
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`admin /metrics answered ${res.status}`);
  return res.text();
}

/**
 * The value of one sample in `text`: `series` is its name with its labels exactly as the
 * gateway prints them (`metricstream_log_errors_total{kind="write"}`); NaN when absent.
 */
export function sampleOf(text: string, series: string): number {
  const prefix = `${series} `;
  for (const line of text.split('\n')) if (line.startsWith(prefix)) return Number(line.slice(prefix.length));
  return NaN;
}

/** One sample of the admin port, read now (see sampleOf); NaN when absent. */
export async function scrapeSample(target: number | GatewayProcess, series: string): Promise<number> {
  return sampleOf(await scrapeAdmin(target), series);
}

/** Polls the admin port until `series` reads `want` (see the module comment: samples lag up to a second). */
export async function waitForSample(target: number | GatewayProcess, series: string, want: number, timeoutMs = 10_000): Promise<void> {
  let last = NaN;
  await waitFor(`${series} = ${want}`, async () => (last = await scrapeSample(target, series)) === want, timeoutMs, { explain: () => `last read: ${last}` });
}
