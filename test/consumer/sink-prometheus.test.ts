/**
 * The remote_write encoder against the reference receiver: Prometheus 2.x with
 * --web.enable-remote-write-receiver takes our WriteRequests (sorted labels, samples
 * oldest first, flattened histograms, stale markers) and returns the values by PromQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDeadLetter } from '../../src/consumer/sinks/dead-letter.ts';
import { Delivery } from '../../src/consumer/sinks/delivery.ts';
import { remoteWriteFormat } from '../../src/consumer/sinks/remote-write.ts';
import { SinkMetrics } from '../../src/consumer/sinks/sink-metrics.ts';
import { ContentType } from '../../src/sink/sink.ts';
import { startPrometheus } from '../support/stores.ts';
import type { PrometheusReceiver } from '../support/stores.ts';
import { tempDir } from '../support/gateway-process.ts';
import { removeDir } from './helpers.ts';

let dir: string;
let prom: PrometheusReceiver;

beforeAll(async () => {
  dir = await tempDir('metricstream-prom-');
  prom = await startPrometheus(dir);
});
afterAll(async () => {
  await prom?.destroy();
  await removeDir(dir);
});

describe('remote_write 1.0 into Prometheus', () => {
  it('Prometheus accepts the requests and answers PromQL with the values', async () => {
    const now = Date.now() - 60_000;
    const metrics = new SinkMetrics('remote-write');
    const d = new Delivery({ format: remoteWriteFormat, url: prom.writeUrl, deadLetter: new FileDeadLetter(`${dir}/dl`), group: 'g', metrics, concurrency: 2, maxSamplesPerRequest: 3 });
    const entries = [
      { name: 'req_duration_seconds_bucket', value: 2, timestamp: now, tags: { le: '0.5', job: 'api' }, type: 'histogram', help: 'Request latency.', unit: 'seconds' },
      { name: 'req_duration_seconds_bucket', value: 5, timestamp: now, tags: { le: '+Inf', job: 'api' }, type: 'histogram' },
      { name: 'req_duration_seconds_sum', value: 1.25, timestamp: now, tags: { job: 'api' }, type: 'histogram' },
      { name: 'req_duration_seconds_count', value: 5, timestamp: now, tags: { job: 'api' }, type: 'histogram' },
      { name: 'jobs_total', value: 7, timestamp: now - 1000, tags: { Zone: 'eu', job: 'api' }, type: 'counter' },
      { name: 'jobs_total', value: 9, timestamp: now, tags: { job: 'api', Zone: 'eu' }, type: 'counter' },
      { name: 'gone', value: 1, timestamp: now - 1000 },
      { name: 'gone', value: NaN, timestamp: now }, // stale marker: the series ends
    ];
    // Two records of one partition, the later samples in the first record, cut into requests
    // of 3 samples: still sent oldest first per series (Prometheus would refuse the older one).
    await d.deliver({
      partition: 0,
      records: [
        { partition: 0, offset: 0, key: 'a', timestamp: now, value: { metrics: entries.slice(0, 4).concat(entries[5]) }, contentType: ContentType.msgpack },
        { partition: 0, offset: 1, key: 'a', timestamp: now, value: { metrics: [entries[4], ...entries.slice(6)] }, contentType: ContentType.msgpack },
      ],
    });
    const dead = (await metrics.registry.getSingleMetric('metricstream_consumer_dead_letter_records_total')!.get()).values.reduce((s, v) => s + v.value, 0);
    expect(dead).toBe(0);
    const at = now / 1000;
    const q = async (promql: string) => (await prom.query(promql, at)).map((r) => [r.metric, Number(r.value[1])]);
    expect(await q('req_duration_seconds_bucket')).toEqual(
      expect.arrayContaining([
        [{ __name__: 'req_duration_seconds_bucket', job: 'api', le: '0.5' }, 2],
        [{ __name__: 'req_duration_seconds_bucket', job: 'api', le: '+Inf' }, 5],
      ]),
    );
    expect(await q('req_duration_seconds_sum / req_duration_seconds_count')).toEqual([[{ job: 'api' }, 0.25]]);
    expect(await q('jobs_total')).toEqual([[{ __name__: 'jobs_total', job: 'api', Zone: 'eu' }, 9]]);
    expect(await q('jobs_total offset 1s')).toEqual([[{ __name__: 'jobs_total', job: 'api', Zone: 'eu' }, 7]]);
    // The stale marker ends the series: no value at `now`, the earlier one a second before.
    expect(await q('gone')).toEqual([]);
    expect(await q('gone offset 1s')).toEqual([[{ __name__: 'gone' }, 1]]);
  });
});
