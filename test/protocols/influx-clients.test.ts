/**
 * Line protocol from real clients: @influxdata/influxdb-client (the InfluxDB 2.x client
 * library) to /api/v2/write, the `influx` 1.x CLI (Debian influxdb-client) `INSERT` to
 * /write, and curl with the edge cases of the line protocol reference to /write.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InfluxDB, Point } from '@influxdata/influxdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { startSniffingProxy } from '../support/sniffing-proxy.ts';

const run = promisify(execFile);

interface Entry {
  name: string;
  value: number;
  timestamp: number;
  tags: Record<string, string>;
}

describe('Influx clients', () => {
  let gw: GatewayProcess;
  let dir: string;
  const entries = async (key: string): Promise<Entry[]> =>
    (await consumeAll(dir)).filter((l) => l.key === key).flatMap((l) => l.value.metrics as Entry[]);

  beforeAll(async () => {
    dir = await tempDir();
    gw = await startGateway(['--workers', '1', '--data-dir', dir]);
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('@influxdata/influxdb-client writes points to /api/v2/write with its token as the client id', async () => {
    const writeApi = new InfluxDB({ url: `http://127.0.0.1:${gw.port}`, token: 'influx-lib' }).getWriteApi('my-org', 'my-bucket', 'ns', { maxRetries: 0 });
    const at = new Date(1_700_000_000_123);
    writeApi.writePoint(
      new Point('weather station')
        .tag('location', 'us,midwest')
        .tag('sea level', 'a=b')
        .floatField('temperature', 82.5)
        .intField('count', -3)
        .uintField('ucount', 7)
        .booleanField('raining', true)
        .stringField('note', 'warm "day" \\ ok')
        .timestamp(at),
    );
    writeApi.writeRecord('cpu,host=a usage=1 1700000000000000001');
    await writeApi.close(); // flushes; rejects on any non-2xx
    const got = (await entries('influx-lib')).sort((a, b) => a.name.localeCompare(b.name));
    const tags = { location: 'us,midwest', 'sea level': 'a=b' };
    expect(got).toEqual([
      { name: 'cpu_usage', value: 1, timestamp: 1_700_000_000_000.000001, tags: { host: 'a' } },
      { name: 'weather station_count', value: -3, timestamp: 1_700_000_000_123, tags },
      { name: 'weather station_raining', value: 1, timestamp: 1_700_000_000_123, tags },
      { name: 'weather station_temperature', value: 82.5, timestamp: 1_700_000_000_123, tags },
      { name: 'weather station_ucount', value: 7, timestamp: 1_700_000_000_123, tags },
    ]);
  });

  it('@influxdata/influxdb-client gzips its batches (past 1000 bytes): small ones and one that decodes past 128 KiB are stored whole', async () => {
    const proxy = await startSniffingProxy(gw.port);
    try {
      const client = new InfluxDB({ url: `http://127.0.0.1:${proxy.port}`, token: 'influx-gzip' });
      const writeApi = client.getWriteApi('my-org', 'my-bucket', 'ms', { maxRetries: 0, batchSize: 10_000 });
      // 100 lines (about 6 KB), then 4000 (about 250 KB: decoded in the pool, not on the worker).
      for (const [from, n] of [[0, 100], [100, 4000]]) {
        for (let i = from; i < from + n; i++) writeApi.writeRecord(`disk,host=server-${String(i % 50).padStart(3, '0')},path=/var/lib/data used_percent=${i} ${1_700_000_000_000 + i}`);
        await writeApi.flush();
      }
      await writeApi.close();
      const writes = proxy.heads().filter((h) => h.startsWith('post /api/v2/write'));
      expect(writes.length).toBe(2);
      expect(writes.every((h) => /\r\ncontent-encoding: gzip(\r\n|$)/.test(h))).toBe(true);
    } finally {
      await proxy.close();
    }
    const got = await entries('influx-gzip');
    expect(got.length).toBe(4100);
    expect(got.map((e) => e.value).sort((a, b) => a - b)).toEqual(Array.from({ length: 4100 }, (_, i) => i));
    expect(got[4099]).toMatchObject({ name: 'disk_used_percent', tags: { host: 'server-049', path: '/var/lib/data' } });
  });

  it('the client library sees a 400 naming the line for a bad record', async () => {
    const writeApi = new InfluxDB({ url: `http://127.0.0.1:${gw.port}`, token: 'influx-lib-bad' }).getWriteApi('o', 'b', 'ns', { maxRetries: 0 });
    writeApi.writeRecords(['good v=1', 'bad v=']);
    await expect(writeApi.close()).rejects.toMatchObject({ statusCode: 400, body: expect.stringContaining('line 2: field \\"v\\" has no value') });
    expect(await entries('influx-lib-bad')).toEqual([]);
  });

  it('the influx 1.x CLI INSERTs through /write (user as the client id, password not stored)', async () => {
    const cli = (stmt: string, precision = 'ns') =>
      run('influx', ['-host', '127.0.0.1', '-port', String(gw.port), '-username', 'influx-cli', '-password', 'secret', '-database', 'db1', '-precision', precision, '-execute', stmt]);
    await cli('INSERT cpu,host=server\\ 01,region=us-west load=0.64,healthy=t 1434055562000000000');
    await cli('INSERT mem free=12i 1434055562', 's');
    const got = await entries('influx-cli');
    expect(got).toEqual([
      { name: 'cpu_load', value: 0.64, timestamp: 1_434_055_562_000, tags: { host: 'server 01', region: 'us-west' } },
      { name: 'cpu_healthy', value: 1, timestamp: 1_434_055_562_000, tags: { host: 'server 01', region: 'us-west' } },
      { name: 'mem_free', value: 12, timestamp: 1_434_055_562_000, tags: {} },
    ]);
    const keys = (await consumeAll(dir)).map((l) => l.key);
    expect(keys.some((k) => k.includes('secret'))).toBe(false);
  });

  it('curl: the line protocol reference\'s edge cases, v1 precision and the 1.x error shape', async () => {
    const body = [
      '# Escaping examples from the line protocol reference',
      'my\\ measurement,tag\\ key=tag\\ value fieldKey=1 1556813561098000000',
      'myMeasurement,tagKey=tag\\,value,tag\\=key2=v fieldKey=2 1556813561098000000',
      'myMeasurement fieldKey="string with \\"quotes\\" and \\\\ backslash",n=3u 1556813561098000000',
      '',
      'myMeasurement,emoji=🙂 f=-1.5e-3,b=FALSE 1556813561098000000',
    ].join('\n');
    const curl = async (url: string, data: string) => {
      const { stdout } = await run('curl', ['-s', '-o', '-', '-w', '\\n%{http_code}', '-H', 'Authorization: Bearer influx-curl', '--data-binary', data, url]);
      const lines = stdout.split('\n');
      return { status: Number(lines.pop()), body: lines.join('\n') };
    };
    expect(await curl(`http://127.0.0.1:${gw.port}/write?db=x&precision=n`, body)).toEqual({ status: 204, body: '' });
    expect(await curl(`http://127.0.0.1:${gw.port}/write?db=x&precision=h`, 'hourly v=1 472222')).toEqual({ status: 204, body: '' });
    const bad = await curl(`http://127.0.0.1:${gw.port}/write?db=x`, 'ok v=1\nnot line protocol');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({ error: 'unable to parse: line 2: field "line" has no "=value"' });
    const ts = 1_556_813_561_098;
    expect(await entries('influx-curl')).toEqual([
      { name: 'my measurement_fieldKey', value: 1, timestamp: ts, tags: { 'tag key': 'tag value' } },
      { name: 'myMeasurement_fieldKey', value: 2, timestamp: ts, tags: { tagKey: 'tag,value', 'tag=key2': 'v' } },
      { name: 'myMeasurement_n', value: 3, timestamp: ts, tags: {} },
      { name: 'myMeasurement_f', value: -0.0015, timestamp: ts, tags: { emoji: '🙂' } },
      { name: 'myMeasurement_b', value: 0, timestamp: ts, tags: { emoji: '🙂' } },
      { name: 'hourly_v', value: 1, timestamp: 1_699_999_200_000, tags: {} },
    ]);
  });
});
