/**
 * `npm run bench:decode`: the hand-written wire decoders (src/protocols/) against
 * protobufjs, on the same bodies, both producing the stored record (msgpack).
 *
 * - remote_write 1.0: 500 series x 1 sample with node_exporter-like labels.
 *   hand: decodeWriteRequestV1 straight into the record encoder;
 *   protobufjs: WriteRequest.decode + toObject (int64 as numbers) + the same entries built
 *   as objects + msgpackr pack.
 * - OTLP protobuf: 50 metrics x 10 points (gauges, counters, histograms).
 *   hand: decodeOtlpProtobuf into the record encoder;
 *   protobufjs: decode + toObject (OTLP/JSON field names) + the JSON-path decoder into the
 *   same encoder (the mapping is shared, only the wire reading differs).
 * - OTLP/JSON: the same request in the OTLP/JSON encoding, through decodeOtlp (the nesting
 *   check, JSON.parse and the mapping) against JSON.parse and the mapping alone: what the
 *   check before JSON.parse costs.
 * Also snappy block decompression of the remote_write body alone.
 * Median of 5 runs of ~1 s each; prints ops/s and samples/s per row.
 */
import { Packr } from 'msgpackr';
import { compressSync } from 'snappy';
import { decodeOtlpProtobuf } from '../src/protocols/otlp-decode.ts';
import { OtlpEmitter } from '../src/protocols/otlp-emit.ts';
import { decodeOtlpJson } from '../src/protocols/otlp-json.ts';
import { decodeOtlp } from '../src/protocols/otlp.ts';
import { decodeWriteRequestV1 } from '../src/protocols/remote-write-decode.ts';
import { snappyBlockDecode } from '../src/workers/content-encoding.ts';
import { createRecordEncoder } from '../src/records/record-encoder.ts';
import { encode, ExportMetricsServiceRequest, ExportMetricsServiceRequestCamel, WriteRequest } from '../test/support/protos.ts';
import { timedCalls } from './timed-calls.ts';

const quick = process.argv.includes('--quick');
const RUN_MS = quick ? 100 : 1000;
const RUNS = quick ? 1 : 5;
const packr = new Packr({ useRecords: false });

interface Row {
  name: string;
  opsPerSec: number;
  samplesPerSec: number;
}

/** ops/s of `fn` over one run of RUN_MS. */
function once(fn: () => void): number {
  const { calls, elapsedMs } = timedCalls(fn, RUN_MS, 10);
  return (calls * 1000) / elapsedMs;
}

/**
 * The cases of one group, their runs interleaved (A B C A B C ...) so that a busy
 * neighbour on this shared machine slows all of them alike; the median run of each.
 */
function group(samples: number, cases: [string, () => void][]): Row[] {
  for (const [, fn] of cases) for (let i = 0; i < 50; i++) fn(); // warm-up
  const rates: number[][] = cases.map(() => []);
  for (let r = 0; r < RUNS; r++) cases.forEach(([, fn], i) => rates[i]!.push(once(fn)));
  return cases.map(([name], i) => {
    const sorted = rates[i]!.sort((a, b) => a - b);
    const opsPerSec = sorted[Math.floor(sorted.length / 2)]!;
    return { name, opsPerSec, samplesPerSec: opsPerSec * samples };
  });
}

// remote_write 1.0 body
const SERIES = 500;
const timeseries = [];
for (let s = 0; s < SERIES; s++) {
  timeseries.push({
    labels: [
      { name: '__name__', value: `node_cpu_seconds_total_${s % 20}` },
      { name: 'cpu', value: String(s % 8) },
      { name: 'instance', value: `host-${s % 50}.example.com:9100` },
      { name: 'job', value: 'node' },
      { name: 'mode', value: ['idle', 'user', 'system', 'iowait'][s % 4]! },
      { name: 'region', value: 'eu-west-1' },
    ],
    samples: [{ value: s * 1.25, timestamp: 1_700_000_000_000 + s }],
  });
}
const rwBody = encode(WriteRequest, { timeseries });
const rwSnappy = compressSync(rwBody);

function rwHand(): void {
  const enc = createRecordEncoder('msgpack', rwBody.length * 2);
  decodeWriteRequestV1(rwBody, enc);
  enc.finish();
}

function rwLibrary(): void {
  const req = WriteRequest.toObject(WriteRequest.decode(rwBody), { longs: Number, defaults: true }) as {
    timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[];
  };
  const metrics = [];
  for (const ts of req.timeseries) {
    let name = '';
    const tags: Record<string, string> = {};
    for (const l of ts.labels) {
      if (l.name === '__name__') name = l.value;
      else tags[l.name] = l.value;
    }
    for (const s of ts.samples) metrics.push({ name, tags, value: s.value, timestamp: s.timestamp });
  }
  packr.pack({ metrics });
}

// OTLP body
const POINTS = 10;
const metricsOut = [];
const now = '1700000000000000000';
const attrs = (i: number) => [
  { key: 'http.route', value: { string_value: `/api/v${i % 3}/items` } },
  { key: 'http.status_code', value: { int_value: 200 + (i % 3) } },
];
for (let m = 0; m < 50; m++) {
  const points = [];
  for (let p = 0; p < POINTS; p++) points.push({ time_unix_nano: now, as_double: m * p, attributes: attrs(p) });
  if (m % 3 === 0) metricsOut.push({ name: `gauge_${m}`, gauge: { data_points: points } });
  else if (m % 3 === 1) metricsOut.push({ name: `counter_${m}`, sum: { is_monotonic: true, aggregation_temporality: 2, data_points: points } });
  else {
    metricsOut.push({
      name: `hist_${m}`,
      histogram: {
        aggregation_temporality: 2,
        data_points: points.map((p) => ({ time_unix_nano: now, attributes: p.attributes, count: 10, sum: 5, explicit_bounds: [0.1, 1, 10], bucket_counts: [1, 2, 3, 4] })),
      },
    });
  }
}
const otlpBody = encode(ExportMetricsServiceRequest, {
  resource_metrics: [{ resource: { attributes: [{ key: 'service.name', value: { string_value: 'bench' } }] }, scope_metrics: [{ scope: { name: 'bench' }, metrics: metricsOut }] }],
});
const otlpSamples = (() => {
  const enc = createRecordEncoder('msgpack');
  decodeOtlpProtobuf(otlpBody, new OtlpEmitter(enc));
  return enc.count;
})();

function otlpHand(): void {
  const enc = createRecordEncoder('msgpack', otlpBody.length * 4);
  decodeOtlpProtobuf(otlpBody, new OtlpEmitter(enc));
  enc.finish();
}

function otlpLibrary(): void {
  const obj = ExportMetricsServiceRequestCamel.toObject(ExportMetricsServiceRequestCamel.decode(otlpBody), { longs: String, enums: Number, bytes: String });
  const enc = createRecordEncoder('msgpack', otlpBody.length * 4);
  decodeOtlpJson(obj, new OtlpEmitter(enc));
  enc.finish();
}

const otlpJsonBody = Buffer.from(JSON.stringify(ExportMetricsServiceRequestCamel.toObject(ExportMetricsServiceRequestCamel.decode(otlpBody), { longs: String, enums: Number, bytes: String })));

function otlpJsonChecked(): void {
  const enc = createRecordEncoder('msgpack', otlpJsonBody.length * 2);
  decodeOtlp(otlpJsonBody, true, new OtlpEmitter(enc));
  enc.finish();
}

function otlpJsonUnchecked(): void {
  const enc = createRecordEncoder('msgpack', otlpJsonBody.length * 2);
  decodeOtlpJson(JSON.parse(otlpJsonBody.toString('utf8')), new OtlpEmitter(enc));
  enc.finish();
}

// Both paths must agree before they are timed.
{
  const a = createRecordEncoder('json');
  decodeOtlpProtobuf(otlpBody, new OtlpEmitter(a));
  const b = createRecordEncoder('json');
  decodeOtlpJson(ExportMetricsServiceRequestCamel.toObject(ExportMetricsServiceRequestCamel.decode(otlpBody), { longs: String, enums: Number, bytes: String }), new OtlpEmitter(b));
  if (Buffer.compare(Buffer.from(a.finish()), Buffer.from(b.finish())) !== 0) throw new Error('OTLP paths disagree');
}

const rows = [
  ...group(SERIES, [
    [`remote_write 1.0 hand-written (${SERIES} samples, ${rwBody.length} B)`, rwHand],
    ['remote_write 1.0 protobufjs + msgpackr', rwLibrary],
    [`snappy uncompress (${rwSnappy.length} -> ${rwBody.length} B)`, () => snappyBlockDecode(rwSnappy, 1 << 24)],
  ]),
  ...group(otlpSamples, [
    [`OTLP protobuf hand-written (${otlpSamples} entries, ${otlpBody.length} B)`, otlpHand],
    ['OTLP protobuf protobufjs + toObject + shared mapping', otlpLibrary],
  ]),
  ...group(otlpSamples, [
    [`OTLP/JSON decodeOtlp: nesting check + JSON.parse + mapping (${otlpJsonBody.length} B)`, otlpJsonChecked],
    ['OTLP/JSON JSON.parse + mapping, no nesting check', otlpJsonUnchecked],
  ]),
];
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));
for (const r of rows) console.log(`${r.name.padEnd(70)} ${fmt(r.opsPerSec).padStart(8)} ops/s ${fmt(r.samplesPerSec).padStart(8)} samples/s`);
console.log(`hand-written / protobufjs: remote_write ${(rows[0]!.opsPerSec / rows[1]!.opsPerSec).toFixed(2)}x, OTLP ${(rows[3]!.opsPerSec / rows[4]!.opsPerSec).toFixed(2)}x`);
console.log(`OTLP/JSON with the nesting check / without: ${(rows[5]!.opsPerSec / rows[6]!.opsPerSec).toFixed(2)}x`);
