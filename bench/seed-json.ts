/**
 * `npm run bench:seed-json`: the seed JSON endpoint's body handling, the one-pass scanner
 * (src/protocols/seed-json-scan.ts) against the JSON.parse reference path, on the same
 * bodies, in µs per request.
 *
 * Rows per body:
 * - reference, msgpack: JSON.parse + validateMetrics + msgpackr pack (what the gateway did
 *   before for the default --value-format msgpack);
 * - scanner, msgpack: one pass that validates and transcodes to the same bytes;
 * - reference, json: JSON.parse + validateMetrics, body stored as sent (--value-format json);
 * - scanner, json: one pass that validates, body stored as sent;
 * - JSON.parse alone, for scale.
 * Bodies: the one bench:e2e and npm run load send (src/load/bodies.ts) with 1 and 100
 * metrics, and a 100-metric body with three tags and a type per metric (about the 10.6 KB
 * of issue 15). Rounds of every row, interleaved (A B C D E A B C ...) so that a
 * busy neighbour on this shared machine slows them alike; the median round of each.
 * `--quick` for a smoke run; `--json FILE` writes the figures.
 */
import { writeFileSync } from 'node:fs';
import { buildBody } from '../src/load/bodies.ts';
import { parseMetricsBody, parseMetricsBodyReference } from '../src/workers/metrics-body.ts';
import { timedCalls } from './timed-calls.ts';

const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
const jsonOut = jsonAt === -1 ? undefined : process.argv[jsonAt + 1];
const ROUND_MS = quick ? 50 : 100;
const ROUNDS = quick ? 1 : 21;

/** A body like the 10.6 KB one: 100 metrics with three tags and a type. */
function richBody(count: number): Buffer {
  const metrics = [];
  const now = 1_700_000_000_000;
  for (let i = 0; i < count; i++) {
    metrics.push({
      name: `http_server_requests_seconds_${i % 10}`,
      value: i * 1.25,
      timestamp: now + i,
      tags: { host: `web-${i % 8}`, job: 'api', method: ['GET', 'POST'][i % 2]! },
      type: 'counter',
    });
  }
  return Buffer.from(JSON.stringify({ metrics }));
}

const bodies: [string, Buffer][] = [
  ['1 metric (bench:e2e body)', buildBody('json', 1, 1_700_000_000_000)],
  ['100 metrics (bench:e2e body)', buildBody('json', 100, 1_700_000_000_000)],
  ['100 metrics, 3 tags + type', richBody(100)],
];

/** Microseconds per call of `fn`, over one round of ROUND_MS. */
function round(fn: () => void): number {
  const { calls, elapsedMs } = timedCalls(fn, ROUND_MS, 20);
  return (elapsedMs * 1000) / calls;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const results: Record<string, unknown>[] = [];
for (const [label, body] of bodies) {
  // Both paths must store the same bytes before they are timed.
  const a = Buffer.from(parseMetricsBody(body, 'json', 'msgpack').value);
  const b = Buffer.from(parseMetricsBodyReference(body, 'json', 'msgpack').value);
  if (!a.equals(b)) throw new Error(`${label}: scanner and reference disagree`);
  const rows: [string, () => void][] = [
    ['reference, msgpack (JSON.parse + validate + msgpackr)', () => parseMetricsBodyReference(body, 'json', 'msgpack')],
    ['scanner, msgpack (validate + transcode)', () => parseMetricsBody(body, 'json', 'msgpack')],
    ['reference, json (JSON.parse + validate)', () => parseMetricsBodyReference(body, 'json', 'json')],
    ['scanner, json (validate, store as sent)', () => parseMetricsBody(body, 'json', 'json')],
    ['JSON.parse alone', () => JSON.parse(body.toString('utf8'))],
  ];
  for (const [, fn] of rows) for (let k = 0; k < 200; k++) fn(); // warm-up
  const times: number[][] = rows.map(() => []);
  for (let r = 0; r < ROUNDS; r++) rows.forEach(([, fn], k) => times[k]!.push(round(fn)));
  const us = times.map(median);
  console.log(`\n${label}: ${body.length} B JSON, ${a.length} B msgpack`);
  rows.forEach(([name], k) => console.log(`  ${name.padEnd(56)} ${us[k]!.toFixed(2).padStart(8)} µs/request`));
  console.log(`  reference / scanner: msgpack ${(us[0]! / us[1]!).toFixed(2)}x, json ${(us[2]! / us[3]!).toFixed(2)}x`);
  results.push({ body: label, bytes: body.length, msgpackBytes: a.length, usPerRequest: Object.fromEntries(rows.map(([name], k) => [name, us[k]])), rounds: ROUNDS, roundMs: ROUND_MS });
}
if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2)}\n`);
