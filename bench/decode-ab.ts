/**
 * Interleaved A/B of the protocol decoders of two checkouts, in one process:
 *
 *   node --import ./src/main/require-node.mjs bench/decode-ab.ts --base DIR [--protocols rw,otlp,influx,otlp-histogram,influx-hosts,otlp-hosts,json]
 *        [--per-request 100,2000] [--rounds 15]
 *
 * A is DIR's `src/` (another worktree, or `git archive <commit> src | tar -x -C DIR`),
 * B this checkout's. Each round times A then B on the same body (bench:e2e's remote_write
 * Influx and OTLP bodies, k samples per request) through the protocol module's decode(): snappy,
 * wire decoding and the msgpack record, as a gateway worker runs them. Times are this
 * process's CPU time (user + system), not wall time: a neighbour that takes the core
 * away does not count, which is what makes the figures usable on a shared machine.
 * Prints min and median ns per sample and B/A; B's record must equal A's byte for byte. `otlp-histogram`: OTLP histogram points
 * (about k entries, 8 per point), a shape bench:e2e has no row for. `influx-hosts`, `otlp-hosts`:
 * every line or point with its own tag value (bench/e2e/protocol-bodies.ts), where reusing
 * the last one's tags never applies. `json`: the seed's JSON body of the file and Kafka rows
 * (src/load/bodies.ts).
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import type { Protocol, RequestContext } from '../src/protocols/protocol.ts';
import { buildBody } from '../src/load/bodies.ts';
import { influxBody, influxHostsBody, otlpBody, otlpHistogramBody, otlpHostsBody, remoteWriteBody } from './e2e/protocol-bodies.ts';

/** The decoders compared, each a protocol module's decode() and a fresh request context. */
type Decoder = 'rw' | 'otlp' | 'influx' | 'json';
/** Each --protocols name: its decoder, its label and its body of k samples. */
const SHAPES: Record<string, { decoder: Decoder; label: string; body: (k: number, now: number) => Buffer }> = {
  rw: { decoder: 'rw', label: 'remote_write', body: (k, now) => remoteWriteBody(k, now).bytes },
  otlp: { decoder: 'otlp', label: 'OTLP', body: (k, now) => otlpBody(k, now).bytes },
  influx: { decoder: 'influx', label: 'Influx', body: (k, now) => influxBody(k, now).bytes },
  'otlp-histogram': { decoder: 'otlp', label: 'OTLP histograms', body: (k, now) => otlpHistogramBody(k, now).bytes },
  'influx-hosts': { decoder: 'influx', label: 'Influx, a host per line', body: (k, now) => influxHostsBody(k, now).bytes },
  'otlp-hosts': { decoder: 'otlp', label: 'OTLP, a host per point', body: (k, now) => otlpHostsBody(k, now).bytes },
  json: { decoder: 'json', label: 'seed JSON', body: (k, now) => buildBody('json', k, now) },
};

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    protocols: { type: 'string', default: 'rw,otlp' },
    'per-request': { type: 'string', default: '100,2000' },
    rounds: { type: 'string', default: '15' },
  },
});
const unknown = values.protocols.split(',').filter((p) => SHAPES[p] === undefined);
if (values.base === undefined || unknown.length > 0) {
  if (unknown.length > 0) console.error(`bench/decode-ab.ts: unknown --protocols ${unknown.join(',')}`);
  console.error(`usage: bench/decode-ab.ts --base DIR [--protocols ${Object.keys(SHAPES).join(',')}] [--per-request 100,2000] [--rounds 15]`);
  process.exit(2);
}
const options = { valueFormat: 'msgpack', maxDecodedBody: 64 << 20 } as unknown as Parameters<typeof import('../src/protocols/remote-write.ts').createRemoteWriteProtocol>[0];
const roots = { A: path.resolve(values.base, 'src'), B: path.resolve(import.meta.dirname, '../src') };

type AnyProtocol = Protocol<RequestContext>;
async function load(root: string): Promise<Record<Decoder, AnyProtocol>> {
  const rw = (await import(path.join(root, 'protocols/remote-write.ts'))) as typeof import('../src/protocols/remote-write.ts');
  const otlp = (await import(path.join(root, 'protocols/otlp.ts'))) as typeof import('../src/protocols/otlp.ts');
  const influx = (await import(path.join(root, 'protocols/influx.ts'))) as typeof import('../src/protocols/influx.ts');
  const seed = (await import(path.join(root, 'protocols/seed-json.ts'))) as typeof import('../src/protocols/seed-json.ts');
  return {
    rw: rw.createRemoteWriteProtocol(options) as unknown as AnyProtocol,
    otlp: otlp.createOtlpProtocol(options) as unknown as AnyProtocol,
    influx: influx.createInfluxProtocols(options)[1] as unknown as AnyProtocol,
    json: seed.createSeedProtocol(options) as unknown as AnyProtocol,
  };
}
const decoders = { A: await load(roots.A), B: await load(roots.B) };

const rounds = Number(values.rounds);
for (const p of values.protocols.split(',')) {
  const shape = SHAPES[p]!;
  const impl = { A: decoders.A[shape.decoder], B: decoders.B[shape.decoder] };
  for (const k of values['per-request'].split(',').map(Number)) {
    const now = Date.now();
    const body = shape.body(k, now);
    const contexts: Record<Decoder, () => unknown> = {
      rw: () => ({ key: undefined, version: 1, rawBody: true }),
      otlp: () => ({ key: undefined, json: false, rejected: 0, errorMessage: '' }),
      influx: () => ({ key: undefined, v2: true, precision: 'ns', now }),
      json: () => ({ key: undefined, format: 'json' }),
    };
    const ctx = contexts[shape.decoder] as () => RequestContext;
    const a = impl.A.decode(body, ctx()).value;
    const b = impl.B.decode(body, ctx()).value;
    if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) throw new Error(`${p}, ${k} per request: the two checkouts write different records`);
    const samples = impl.B.decode(body, ctx()).count; // k, or about k (otlp-histogram)
    const reps = Math.max(1, Math.round(60_000 / samples)); // ~60k samples per timing
    for (let w = 0; w < 20; w++) for (const n of ['A', 'B'] as const) for (let i = 0; i < reps; i++) impl[n].decode(body, ctx());
    const t = { A: [] as number[], B: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const n of ['A', 'B'] as const) {
        const start = process.cpuUsage();
        for (let i = 0; i < reps; i++) impl[n].decode(body, ctx());
        const used = process.cpuUsage(start);
        t[n].push(((used.user + used.system) * 1000) / (reps * samples));
      }
    }
    const min = (x: number[]) => Math.min(...x);
    const med = (x: number[]) => x.slice().sort((u, v) => u - v)[x.length >> 1]!;
    console.log(
      `${shape.label} ${k}/request, CPU ns/sample: A min ${min(t.A).toFixed(0)} med ${med(t.A).toFixed(0)} | ` +
        `B min ${min(t.B).toFixed(0)} med ${med(t.B).toFixed(0)} | B/A min ${(min(t.B) / min(t.A)).toFixed(2)} med ${(med(t.B) / med(t.A)).toFixed(2)}`,
    );
  }
}
