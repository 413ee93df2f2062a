/**
 * What the plain-MessagePack pre-check (src/workers/plain-msgpack.ts) costs next to the
 * decode it guards: `node --import ./src/main/require-node.mjs bench/msgpack-check.ts`.
 * Prints ns per body for both, for bodies of 1, 100 and 1000 metrics with 3 tags.
 */
import { Packr, Unpackr } from 'msgpackr';
import { checkPlainMsgpack } from '../src/records/plain-msgpack.ts';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

function time(fn: () => void, iterations: number): number {
  for (let i = 0; i < iterations / 10; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - start) / iterations;
}

for (const n of [1, 100, 1000]) {
  const body = packr.pack({
    metrics: Array.from({ length: n }, (_, i) => ({ name: `http_requests_total_${i}`, value: i * 1.5, timestamp: 1_700_000_000_000 + i, tags: { host: `h${i}`, job: 'api', le: '0.5' } })),
  });
  const iterations = Math.max(200, Math.round(200_000 / n));
  const check = time(() => checkPlainMsgpack(body, 16), iterations);
  const decode = time(() => unpackr.unpack(body), iterations);
  console.log(`${String(n).padStart(5)} metrics, ${String(body.length).padStart(7)} B: check ${(check / 1000).toFixed(1)} us, decode ${(decode / 1000).toFixed(1)} us, check/decode ${(check / decode).toFixed(2)}`);
}
