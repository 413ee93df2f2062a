/**
 * `npm run bench:sink-cpu`: CPU time of the consumer's delivery path per sample, in one
 * process, independent of the machine's load as far as CPU time is: stored record bytes →
 * toConsumedRecord (msgpack decode) → Delivery (samples, requests, encoding, snappy) →
 * HTTP POST to a no-op receiver in a child process (its CPU is not counted).
 *
 * ```
 * npm run bench:sink-cpu -- [--sink remote-write|influx] [--samples-per-record 100] [--records 20000] [--rounds 5]
 * ```
 *
 * Prints µs of CPU (user+system of this process) per sample and per record, GC time
 * (from PerformanceObserver 'gc' entries), and the bytes POSTed; medians of --rounds.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pack } from 'msgpackr';
import { toConsumedRecord } from '../src/consumer/decode.ts';
import { Delivery } from '../src/consumer/sinks/delivery.ts';
import { SINK_FORMATS } from '../src/consumer/sinks/sink-consumer.ts';
import { ContentType } from '../src/sink/sink.ts';
import { ROOT } from '../test/support/gateway-process.ts';

const { values } = parseArgs({
  options: {
    sink: { type: 'string', default: 'remote-write' },
    'samples-per-record': { type: 'string', default: '100' },
    records: { type: 'string', default: '20000' },
    'batch-records': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    eager: { type: 'boolean' },
  },
});
const sink = values.sink as 'remote-write' | 'influx';
const k = Number(values['samples-per-record']);
const n = Number(values.records);
const batchRecords = Number(values['batch-records']);
const rounds = Number(values.rounds);
/** As a sink-mode consumer reads records (msgpack left for the sink to read); --eager decodes them first. */
const defer = !(values.eager ?? false);

/** Records as the gateway stores them: plain msgpack, `k` metrics of 64 clients' series. */
function makeValues(): Uint8Array[] {
  const base = Date.now() - 3_600_000;
  return Array.from({ length: n }, (_, i) =>
    pack({
      metrics: Array.from({ length: k }, (_, j) => ({
        name: 'bench_cpu',
        value: i + j / 10,
        timestamp: base + i,
        tags: { client: `c${i % 64}`, j: String(j), host: 'host-a' },
        type: 'gauge',
      })),
    }),
  );
}

async function startNoop(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', './src/main/require-node.mjs', 'bench/noop-server.ts', '--workers', '1', '--port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const chunk of child.stdout) {
    out += String(chunk);
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) {
      return {
        url: `${m[1]}/api/v1/write`,
        stop: async () => {
          child.kill('SIGTERM');
          await once(child, 'exit');
        },
      };
    }
  }
  throw new Error(`noop server did not start: ${out}`);
}

async function main(): Promise<void> {
  const noop = await startNoop();
  const stored = makeValues();
  let gcMs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  obs.observe({ entryTypes: ['gc'] });
  const deadLetter = { where: 'none', write: async () => {}, close: async () => {} };
  const delivery = new Delivery({ format: SINK_FORMATS[sink], url: noop.url, deadLetter, group: 'bench' });
  const rows: { usPerSample: number; gcShare: number }[] = [];
  const ts = Date.now();
  for (let r = 0; r < rounds + 1; r++) {
    gcMs = 0;
    const cpu0 = process.cpuUsage();
    for (let from = 0; from < n; from += batchRecords) {
      const records = [];
      for (let i = from; i < Math.min(n, from + batchRecords); i++) {
        records.push(toConsumedRecord(0, i, Buffer.from('client'), ts, ContentType.msgpack, stored[i], defer));
      }
      await delivery.deliver({ partition: 0, records });
    }
    const cpu = process.cpuUsage(cpu0);
    const us = cpu.user + cpu.system;
    if (r === 0) continue; // warm-up
    rows.push({ usPerSample: us / (n * k), gcShare: (gcMs * 1000) / us });
    console.log(`round ${r}: ${(us / (n * k)).toFixed(3)} µs CPU/sample, ${(us / n).toFixed(1)} µs/record, GC ${((gcMs * 1000 * 100) / us).toFixed(0)} %`);
  }
  obs.disconnect();
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    JSON.stringify({ sink, samplesPerRecord: k, records: n, batchRecords, usPerSampleMedian: med(rows.map((x) => x.usPerSample)), gcShareMedian: med(rows.map((x) => x.gcShare)) }),
  );
  await noop.stop();
}

main().catch((err: Error) => {
  console.error(err.stack);
  process.exitCode = 1;
});
