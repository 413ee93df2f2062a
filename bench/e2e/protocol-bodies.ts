/**
 * Request bodies of the ecosystem protocols for bench:e2e's protocol rows, each holding
 * `k` samples like the seed body of the same row: remote_write 1.0 (snappy protobuf,
 * k series of one sample), Influx line protocol (k lines of one field), OTLP protobuf
 * (k gauge points). Built once per row with a hand-rolled protobuf writer, so the
 * benchmark needs no test support code.
 */
import { gzipSync } from 'node:zlib';
import { compressSync } from 'snappy';

export interface ProtocolLoad {
  path: string;
  bytes: Buffer;
  contentType: string;
  headers?: Record<string, string>;
}

class Pb {
  private out: number[] = [];
  private varint(v: number): void {
    while (v >= 0x80) {
      this.out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.out.push(v);
  }
  tag(field: number, wire: number): this {
    this.varint((field << 3) | wire);
    return this;
  }
  bytes(field: number, b: Uint8Array | string): this {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    this.tag(field, 2).varint(buf.length);
    for (const x of buf) this.out.push(x);
    return this;
  }
  double(field: number, v: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.tag(field, 1);
    for (const x of b) this.out.push(x);
    return this;
  }
  fixed64(field: number, v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    this.tag(field, 1);
    for (const x of b) this.out.push(x);
    return this;
  }
  uint(field: number, v: number): this {
    this.tag(field, 0).varint(v);
    return this;
  }
  finish(): Buffer {
    return Buffer.from(this.out);
  }
}

/** remote_write 1.0: k series `cpu_<i>{host="a",job="bench"}` with one sample each. */
export function remoteWriteBody(k: number, now = Date.now()): ProtocolLoad {
  const req = new Pb();
  for (let i = 0; i < k; i++) {
    const label = (n: string, v: string) => new Pb().bytes(1, n).bytes(2, v).finish();
    const ts = new Pb()
      .bytes(1, label('__name__', i === 0 ? 'cpu' : `cpu_${i}`))
      .bytes(1, label('host', 'a'))
      .bytes(1, label('job', 'bench'))
      .bytes(2, new Pb().double(1, 50 + (i % 50)).uint(2, now).finish());
    req.bytes(1, ts.finish());
  }
  return {
    path: '/api/v1/write',
    bytes: compressSync(req.finish()),
    contentType: 'application/x-protobuf',
    headers: { 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
  };
}

/** Influx line protocol: k lines `cpu,host=a,job=bench v<i>=<value> <ns>`. */
export function influxBody(k: number, now = Date.now()): ProtocolLoad {
  return influxLines(k, now, () => 'host=a,job=bench', (i) => (i === 0 ? 'v' : `v${i}`));
}

/**
 * Influx line protocol, every line its own tag set of one length (`host=server-0001`, ...):
 * the shape where the parser's reuse of the last line's tags never applies and costs its
 * check. Not a bench:e2e row: for bench/decode-ab.ts (`--protocols influx-hosts`).
 */
export function influxHostsBody(k: number, now = Date.now()): ProtocolLoad {
  return influxLines(k, now, (i) => `host=${serverName(i)},job=bench`, () => 'v');
}

/** k lines `cpu,<tags(i)> <field(i)>=<value> <ns>`, precision ns. */
function influxLines(k: number, now: number, tags: (i: number) => string, field: (i: number) => string): ProtocolLoad {
  const lines: string[] = [];
  for (let i = 0; i < k; i++) lines.push(`cpu,${tags(i)} ${field(i)}=${50 + (i % 50)} ${now}000000`);
  return { path: '/api/v2/write?org=bench&bucket=bench&precision=ns', bytes: Buffer.from(lines.join('\n')), contentType: 'text/plain; charset=utf-8' };
}

/**
 * `load` gzipped at zlib's default level, as agents send these protocols: Telegraf's and
 * the OpenTelemetry Collector's HTTP outputs gzip by default, and @influxdata/influxdb-client
 * every body over 1000 bytes.
 */
export function gzipped(load: ProtocolLoad): ProtocolLoad {
  return { ...load, bytes: gzipSync(load.bytes), headers: { ...load.headers, 'content-encoding': 'gzip' } };
}

/** OTLP protobuf: one resource and scope, k gauges `cpu_<i>` of one point with host/job attributes. */
export function otlpBody(k: number, now = Date.now()): ProtocolLoad {
  return otlpGauges(k, now, (i) => (i === 0 ? 'cpu' : `cpu_${i}`), () => 'a');
}

/**
 * OTLP protobuf like otlpBody, but k points of `cpu`, each with its own `host` value of one
 * length: the shape where the emitter's reuse of the last point's tags never applies and
 * costs its check. Not a bench:e2e row: for bench/decode-ab.ts (`--protocols otlp-hosts`).
 */
export function otlpHostsBody(k: number, now = Date.now()): ProtocolLoad {
  return otlpGauges(k, now, () => 'cpu', serverName);
}

/** One resource (service.name=bench) and scope (bench), k gauges `name(i)` of one point with host=host(i), job=bench. */
function otlpGauges(k: number, now: number, name: (i: number) => string, host: (i: number) => string): ProtocolLoad {
  const attr = (key: string, value: string) => new Pb().bytes(1, key).bytes(2, new Pb().bytes(1, value).finish()).finish();
  const scope = new Pb().bytes(1, new Pb().bytes(1, 'bench').finish());
  for (let i = 0; i < k; i++) {
    const point = new Pb().bytes(7, attr('host', host(i))).bytes(7, attr('job', 'bench')).fixed64(3, BigInt(now) * 1_000_000n).double(4, 50 + (i % 50));
    scope.bytes(2, new Pb().bytes(1, name(i)).bytes(5, new Pb().bytes(1, point.finish()).finish()).finish());
  }
  const rm = new Pb().bytes(1, new Pb().bytes(1, attr('service.name', 'bench')).finish()).bytes(2, scope.finish());
  return { path: '/v1/metrics', bytes: new Pb().bytes(1, rm.finish()).finish(), contentType: 'application/x-protobuf' };
}

/** `server-0001`, ...: host names of one length. */
const serverName = (i: number): string => `server-${String(i).padStart(4, '0')}`;

/**
 * OTLP protobuf histograms, the shape of an SDK's request-duration export: ceil(k / 8)
 * points of `http_server_duration` with route/method/status attributes and 5 bounds, each
 * 8 entries (6 buckets, sum, count), so about k entries. Not a bench:e2e row: for
 * bench/decode-ab.ts (`--protocols otlp-histogram`).
 */
export function otlpHistogramBody(k: number, now = Date.now()): ProtocolLoad {
  const attr = (key: string, value: string) => new Pb().bytes(1, key).bytes(2, new Pb().bytes(1, value).finish()).finish();
  const bounds = [0.005, 0.01, 0.05, 0.1, 0.5];
  let dataPoints = new Pb();
  for (let i = 0; i < Math.ceil(k / 8); i++) {
    const point = new Pb().bytes(9, attr('http.route', `/api/v1/items/${i}`)).bytes(9, attr('http.method', 'GET')).bytes(9, attr('http.status_code', '200')).fixed64(3, BigInt(now) * 1_000_000n).fixed64(4, 21n).double(5, 1.25);
    for (let b = 0; b <= bounds.length; b++) point.fixed64(6, BigInt(b + 1));
    for (const bound of bounds) point.double(7, bound);
    dataPoints = dataPoints.bytes(1, point.finish());
  }
  const metric = new Pb().bytes(1, 'http_server_duration').bytes(3, 's').bytes(9, dataPoints.uint(2, 2).finish());
  const scope = new Pb().bytes(1, new Pb().bytes(1, 'bench').finish()).bytes(2, metric.finish());
  const rm = new Pb().bytes(1, new Pb().bytes(1, attr('service.name', 'bench')).finish()).bytes(2, scope.finish());
  return { path: '/v1/metrics', bytes: new Pb().bytes(1, rm.finish()).finish(), contentType: 'application/x-protobuf' };
}
