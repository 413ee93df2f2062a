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

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    protocols: { type: 'string', default: 'rw,otlp' },
    'per-request': { type: 'string', default: '100,2000' },
    rounds: { type: 'string', default: '15' },
  },
});
if (values.base === undefined) {
  console.error('usage: bench/decode-ab.ts --base DIR [--protocols rw,otlp,influx,otlp-histogram,influx-hosts,otlp-hosts,json] [--per-request 100,2000] [--rounds 15]');
  process.exit(2);
}
const options = { valueFormat: 'msgpack', maxDecodedBody: 64 << 20 } as unknown as Parameters<typeof import('../src/protocols/remote-write.ts').createRemoteWriteProtocol>[0];
const roots = { A: path.resolve(values.base, 'src'), B: path.resolve(import.meta.dirname, '../src') };

type AnyProtocol = Protocol<RequestContext>;
async function load(root: string): Promise<Record<string, AnyProtocol>> {
  const rw = (await import(path.join(root, 'protocols/remote-write.ts'))) as typeof import('../src/protocols/remote-write.ts');
  const otlp = (await import(path.join(root, 'protocols/otlp.ts'))) as typeof import('../src/protocols/otlp.ts');
  const influx = (await import(path.join(root, 'protocols/influx.ts'))) as typeof import('../src/protocols/influx.ts');
  const seed = (await import(path.join(root, 'protocols/seed-json.ts'))) as typeof import('../src/protocols/seed-json.ts');
  return {
    rw: rw.createRemoteWriteProtocol(options) as unknown as AnyProtocol,
    otlp: otlp.createOtlpProtocol(options) as unknown as AnyProtocol,
    influx: influx.createInfluxProtocols(options)[1] as unknown as AnyProtocol,
    'otlp-histogram': otlp.createOtlpProtocol(options) as unknown as AnyProtocol,
    'influx-hosts': influx.createInfluxProtocols(options)[1] as unknown as AnyProtocol,
    'otlp-hosts': otlp.createOtlpProtocol(options) as unknown as AnyProtocol,
    json: seed.createSeedProtocol(options) as unknown as AnyProtocol,
  };
}
const impl = { A: await load(roots.A), B: await load(roots.B) };

const rounds = Number(values.rounds);
for (const p of values.protocols.split(',')) {
  for (const k of values['per-request'].split(',').map(Number)) {
    const now = Date.now();
    const body =
      p === 'json' ? { bytes: buildBody('json', k, now) }
      : p === 'rw' ? remoteWriteBody(k, now) : p === 'influx' ? influxBody(k, now) : p === 'otlp-histogram' ? otlpHistogramBody(k, now)
      : p === 'influx-hosts' ? influxHostsBody(k, now) : p === 'otlp-hosts' ? otlpHostsBody(k, now) : otlpBody(k, now);
    const contexts: Record<string, () => unknown> = {
      rw: () => ({ key: undefined, version: 1, rawBody: true }),
      otlp: () => ({ key: undefined, json: false, rejected: 0, errorMessage: '' }),
      'otlp-histogram': () => ({ key: undefined, json: false, rejected: 0, errorMessage: '' }),
      influx: () => ({ key: undefined, v2: true, precision: 'ns', now }),
      'influx-hosts': () => ({ key: undefined, v2: true, precision: 'ns', now }),
      'otlp-hosts': () => ({ key: undefined, json: false, rejected: 0, errorMessage: '' }),
      json: () => ({ key: undefined, format: 'json' }),
    };
    const ctx = contexts[p] as () => RequestContext;
    const a = impl.A[p]!.decode(body.bytes, ctx()).value;
    const b = impl.B[p]!.decode(body.bytes, ctx()).value;
    if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) throw new Error(`${p}, ${k} per request: the two checkouts write different records`);
    const samples = impl.B[p]!.decode(body.bytes, ctx()).count; // k, or about k (otlp-histogram)
    const reps = Math.max(1, Math.round(60_000 / samples)); // ~60k samples per timing
    for (let w = 0; w < 20; w++) for (const n of ['A', 'B'] as const) for (let i = 0; i < reps; i++) impl[n][p]!.decode(body.bytes, ctx());
    const t = { A: [] as number[], B: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const n of ['A', 'B'] as const) {
        const start = process.cpuUsage();
        for (let i = 0; i < reps; i++) impl[n][p]!.decode(body.bytes, ctx());
        const used = process.cpuUsage(start);
        t[n].push(((used.user + used.system) * 1000) / (reps * samples));
      }
    }
    const min = (x: number[]) => Math.min(...x);
    const med = (x: number[]) => x.slice().sort((u, v) => u - v)[x.length >> 1]!;
    console.log(
      `${{ rw: 'remote_write', otlp: 'OTLP', influx: 'Influx', 'otlp-histogram': 'OTLP histograms', 'influx-hosts': 'Influx, a host per line', 'otlp-hosts': 'OTLP, a host per point', json: 'seed JSON' }[p]} ${k}/request, CPU ns/sample: A min ${min(t.A).toFixed(0)} med ${med(t.A).toFixed(0)} | ` +
        `B min ${min(t.B).toFixed(0)} med ${med(t.B).toFixed(0)} | B/A min ${(min(t.B) / min(t.A)).toFixed(2)} med ${(med(t.B) / med(t.A)).toFixed(2)}`,
    );
  }
}
