/**
 * What the sinks send VictoriaMetrics (the Debian package, 1.79) besides plain remote_write
 * samples:
 * - the influx sink to `/api/v2/write` (InfluxDB 2.x's write API; the Debian InfluxDB 1.6
 *   does not serve it, 1.8+ does): a consumer CLI delivers the gateway's log through it and
 *   every acknowledged sample is stored as `<name>_value` with its tags;
 * - native histograms (an entry's `histogram` object): VictoriaMetrics 1.79 answers 204 to a
 *   remote_write 1.0 request holding them in TimeSeries.histograms but stores nothing of them
 *   (checked here, with a plain sample of the same request stored), so the sink does not
 *   send them: it skips and counts them (`samples_skipped_total{reason="native_histogram"}`)
 *   and delivers the rest of the record.
 */
import snappy from 'snappy';
import { describe, expect, it } from 'vitest';
import { FileDeadLetter } from '../../src/consumer/sinks/dead-letter.ts';
import { Delivery } from '../../src/consumer/sinks/delivery.ts';
import { remoteWriteFormat } from '../../src/consumer/sinks/remote-write.ts';
import { SinkMetrics } from '../../src/consumer/sinks/sink-metrics.ts';
import { ContentType } from '../../src/sink/sink.ts';
import { startGateway, tempDir } from '../support/gateway-process.ts';
import { removeDir, waitFor } from './helpers.ts';
import { useVictoriaSinkGroup } from './sink-fixture.ts';
import { acknowledged, expectAllStored, metricSum, missingCount, SinkConsumerProcess, startSampleLoad, storedSeqs } from './sink-support.ts';

const g = useVictoriaSinkGroup();

// --- a few protobuf fields by hand, for a request our encoder does not write ----------------
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const field = (tag: number, payload: number[]): number[] => [tag, ...varint(payload.length), ...payload];
const str = (tag: number, s: string): number[] => field(tag, [...Buffer.from(s)]);
function double(tag: number, v: number): number[] {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return [tag, ...b];
}
const label = (k: string, v: string): number[] => field(0x0a, [...str(0x0a, k), ...str(0x12, v)]);

describe('influx sink → /api/v2/write', () => {
  it('delivers every acknowledged sample through the InfluxDB 2.x write API (VictoriaMetrics)', async () => {
    const dir = await tempDir('metricstream-v2write-');
    let m: SinkConsumerProcess | undefined;
    try {
      g.gateway = await startGateway(['--data-dir', dir, '--workers', '1']);
      const t0 = Date.now() - 5 * 3_600_000;
      m = g.spawn([
        '--data-dir', dir, '--group', 'v2-writers', '--from-beginning', '--session-timeout', '1500ms',
        '--sink', 'influx', '--sink-url', `${g.vm.base}/api/v2/write?org=metricstream&bucket=metrics`,
        '--sink-header', 'Authorization: Token not-checked-by-victoriametrics', '--admin-port', '0',
      ]);
      const load = startSampleLoad(g.gateway.port, 'v2', 3, t0, 5, 'v2_test');
      await waitFor('samples in the store', async () => (await g.storedCount('v2_test_value', t0)) > 50, 30_000);
      const acked = acknowledged(await load.stop());
      await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await g.vm.export('v2_test_value'), t0)) === 0, 30_000);
      // Line protocol's field becomes the name suffix; the tags (escaped on the way) come back as sent.
      expectAllStored(acked, await g.vm.export('v2_test_value'), t0);
      expect(metricSum(await m.metrics(), 'metricstream_consumer_dead_letter_records_total')).toBe(0);
    } finally {
      // The member and the gateway write into `dir` until they are gone.
      if (m?.alive()) m.kill('SIGKILL');
      await m?.exited;
      await g.gateway?.stop('SIGKILL');
      g.gateway = null;
      await removeDir(dir);
    }
  });
});

describe('native histograms', () => {
  it('VictoriaMetrics 1.79 takes remote_write histograms with a 204 and stores nothing of them', async () => {
    const now = Date.now() - 60_000;
    // Histogram{count_int 10, sum 42.5, schema 0, zero_threshold, zero_count_int 1,
    //           positive_spans [{offset 0, length 1}], positive_deltas [9], timestamp}
    const histogram = [
      0x08, ...varint(10), ...double(0x19, 42.5), 0x20, 0x00, ...double(0x29, 1e-128), 0x30, 0x01,
      ...field(0x5a, [0x08, 0x00, 0x10, 0x01]), ...field(0x62, varint(18)), 0x78, ...varint(now),
    ];
    const withHistogram = [...label('__name__', 'nh_raw'), ...label('job', 'x'), ...field(0x22, histogram)];
    const plain = [...label('__name__', 'nh_plain'), ...field(0x12, [...double(0x09, 7), 0x10, ...varint(now)])];
    const body = snappy.compressSync(Buffer.from([...field(0x0a, withHistogram), ...field(0x0a, plain)]));
    const res = await fetch(g.vm.writeUrl, {
      method: 'POST',
      body,
      headers: { 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf', 'x-prometheus-remote-write-version': '0.1.0' },
    });
    await res.arrayBuffer();
    expect(res.status).toBe(204);
    await waitFor('the plain sample of the request stored', async () => (await g.vm.export('nh_plain')).length === 1, 30_000);
    // Were they ever stored, the sink should send them instead of skipping them.
    expect(await g.vm.export('{__name__=~"nh_raw.*"}')).toEqual([]);
  });

  it('the sink skips and counts native histograms and delivers the rest of the record', async () => {
    const dir = await tempDir('metricstream-nh-');
    try {
      const metrics = new SinkMetrics('remote-write');
      const d = new Delivery({ format: remoteWriteFormat, url: g.vm.writeUrl, deadLetter: new FileDeadLetter(dir), group: 'g', metrics });
      const now = Date.now() - 60_000;
      const histogram = { schema: 0, count: 10, sum: 42.5, zero_threshold: 1e-128, zero_count: 1, positive_spans: [{ offset: 0, length: 1 }], positive_counts: [9] };
      await d.deliver({
        partition: 0,
        records: [{
          partition: 0, offset: 0, key: 'a', timestamp: now, contentType: ContentType.msgpack,
          value: { metrics: [{ name: 'nh_latency', value: 10, timestamp: now, type: 'histogram', histogram }, { name: 'nh_beside', value: 3, timestamp: now, tags: { job: 'x' } }] },
        }],
      });
      const text = await metrics.registry.metrics();
      expect(metricSum(text, 'metricstream_consumer_samples_skipped_total', 'reason="native_histogram"')).toBe(1);
      expect(metricSum(text, 'metricstream_consumer_samples_delivered_total')).toBe(1);
      expect(metricSum(text, 'metricstream_consumer_records_delivered_total')).toBe(1);
      expect(metricSum(text, 'metricstream_consumer_dead_letter_records_total')).toBe(0);
      await waitFor('the other entry of the record stored', async () => (await g.vm.export('nh_beside')).length === 1, 30_000);
      expect((await g.vm.export('nh_beside'))[0]).toMatchObject({ metric: { __name__: 'nh_beside', job: 'x' }, values: [3], timestamps: [now] });
    } finally {
      await removeDir(dir);
    }
  });
});
