/**
 * Tokens mode on every endpoint (seed /metrics, remote_write, Influx 1.x and 2.x, OTLP
 * JSON and protobuf), through a real gateway process: each accepts the credential forms
 * its senders use, refuses a missing or unknown one with 401 + WWW-Authenticate in its
 * own error shape, throttles with 429 + Retry-After in its own shape, and stores every
 * record under the tenant id.
 */
import { compressSync } from 'snappy';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { encode, ExportMetricsServiceRequest, rwSeries, WriteRequest } from '../support/protos.ts';
import { basic, request, writeAuthFile } from './helpers.ts';

const rw = compressSync(encode(WriteRequest, { timeseries: [rwSeries({ __name__: 'up', job: 'node' }, [[1, 1_700_000_000_000]])] }));
const otlpJson = JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'q', gauge: { dataPoints: [{ timeUnixNano: '1700000000000000000', asDouble: 4 }] } }] }] }] });
const otlpProto = Buffer.from(
  encode(ExportMetricsServiceRequest, { resource_metrics: [{ scope_metrics: [{ metrics: [{ name: 'c', gauge: { data_points: [{ time_unix_nano: '1700000000000000000', as_double: 9 }] } }] }] }] }),
);

interface Endpoint {
  name: string;
  path: string;
  body: Buffer | string;
  headers: Record<string, string>;
  ok: number;
  /** What a 401/429 body looks like in this protocol. */
  errorShape: (contentType: string | undefined, body: string) => void;
}

const ENDPOINTS: Endpoint[] = [
  {
    name: 'seed /metrics',
    path: '/metrics',
    body: JSON.stringify({ metrics: [{ name: 'cpu', value: 1 }] }),
    headers: { 'content-type': 'application/json' },
    ok: 200,
    errorShape: (ct, b) => (expect(ct).toMatch(/json/), expect(JSON.parse(b).error).toBeTypeOf('string')),
  },
  {
    name: 'remote_write',
    path: '/api/v1/write',
    body: rw,
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
    ok: 204,
    errorShape: (ct, b) => (expect(ct).toMatch(/text\/plain/), expect(b.length).toBeGreaterThan(0)),
  },
  {
    name: 'Influx 1.x /write',
    path: '/write?db=telegraf',
    body: 'cpu,host=a usage=1.5 1700000000000000000\n',
    headers: {},
    ok: 204,
    errorShape: (ct, b) => (expect(ct).toMatch(/json/), expect(JSON.parse(b).error).toBeTypeOf('string')),
  },
  {
    name: 'Influx 2.x /api/v2/write',
    path: '/api/v2/write?org=o&bucket=b',
    body: 'cpu,host=a usage=1.5 1700000000000000000\n',
    headers: {},
    ok: 204,
    errorShape: (ct, b) => (expect(ct).toMatch(/json/), expect(JSON.parse(b).message).toBeTypeOf('string')),
  },
  {
    name: 'OTLP JSON',
    path: '/v1/metrics',
    body: otlpJson,
    headers: { 'content-type': 'application/json' },
    ok: 200,
    errorShape: (ct, b) => (expect(ct).toMatch(/json/), expect(JSON.parse(b).message).toBeTypeOf('string')),
  },
  {
    name: 'OTLP protobuf',
    path: '/v1/metrics',
    body: otlpProto,
    headers: { 'content-type': 'application/x-protobuf' },
    ok: 200,
    errorShape: (ct) => expect(ct).toBeDefined(),
  },
];

let gateway: GatewayProcess;
let dataDir: string;
let accepted = 0;
beforeAll(async () => {
  const dir = await tempDir();
  const authFile = writeAuthFile(path.join(dir, 'auth.json'), {
    acme: { tokens: ['acme-token'] },
    // Room for one request per burst: the second within the second is throttled.
    slow: { tokens: ['slow-token'], limits: { samplesPerSecond: 1, burstSeconds: 1 } },
  });
  dataDir = path.join(dir, 'data');
  gateway = await startGateway(['--auth', 'tokens', '--auth-file', authFile, '--workers', '1', '--data-dir', dataDir]);
});
afterAll(async () => {
  await gateway?.stop('SIGKILL');
});

const send = (e: Endpoint, headers: Record<string, string>, pathOverride?: string) =>
  request(gateway.port, { path: pathOverride ?? e.path, body: e.body, headers: { ...e.headers, ...headers } });

describe.each(ENDPOINTS)('tokens mode on $name', (e) => {
  it('accepts Bearer and Basic (any user name), refuses missing and unknown credentials with 401 in its shape', async () => {
    expect((await send(e, { authorization: 'Bearer acme-token' })).status).toBe(e.ok);
    expect((await send(e, { authorization: basic('whoever', 'acme-token') })).status).toBe(e.ok);
    accepted += 2;
    for (const authorization of [undefined, 'Bearer wrong', 'acme']) {
      const r = await send(e, authorization === undefined ? {} : { authorization });
      expect(r.status, `${authorization}`).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="metricstream", Basic realm="metricstream"');
      e.errorShape(r.headers['content-type'], r.body);
    }
  });

  it('throttles a tenant past its rate with 429 and Retry-After in its shape', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // the bucket of "slow" is full again
    expect((await send(e, { authorization: 'Bearer slow-token' })).status).toBe(e.ok);
    accepted++;
    const r = await send(e, { authorization: 'Bearer slow-token' });
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    e.errorShape(r.headers['content-type'], r.body);
  });
});

describe('Influx credential forms', () => {
  it('Token <token> (InfluxDB 2 clients) and ?u=&p= (1.x) authenticate; a wrong ?p= does not', async () => {
    const v2 = ENDPOINTS[3];
    const v1 = ENDPOINTS[2];
    expect((await send(v2, { authorization: 'Token acme-token' })).status).toBe(204);
    expect((await send(v1, {}, '/write?db=telegraf&u=someone&p=acme-token')).status).toBe(204);
    accepted += 2;
    expect((await send(v1, {}, '/write?db=telegraf&u=acme&p=nope')).status).toBe(401);
  });

  it('every record is stored under its tenant id, nothing under a credential', async () => {
    await gateway.stop('SIGTERM');
    const stored = await consumeAll(dataDir);
    expect(stored).toHaveLength(accepted);
    expect(new Set(stored.map((r) => r.key))).toEqual(new Set(['acme', 'slow']));
  });
});
