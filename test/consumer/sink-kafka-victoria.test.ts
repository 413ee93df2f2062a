/**
 * End to end through Kafka mode: the gateway (child process) produces to the local mock
 * cluster, a consumer group of two sink-mode CLI processes (kafkajs groups) delivers the
 * topic over remote_write into a real VictoriaMetrics. Every acknowledged sample must be
 * in the store, also after one member was killed (-9) mid-stream (a member stopped past its
 * session: sink-kafka-stop.test.ts). A store that refuses (400)
 * sends the records to the `<topic>.dead-letter` topic (a scripted receiver stands in for
 * the store here: VictoriaMetrics takes any well-formed request).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { consumeAll, freshTopic } from '../kafka/helpers.ts';
import { postMetrics } from '../support/gateway-process.ts';
import { waitFor } from './helpers.ts';
import { useKafkaSinkGroup } from './sink-fixture.ts';
import { acknowledged, expectAllStored, metricSum, missingCount, startSampleLoad, storedSeqs } from './sink-support.ts';

const g = useKafkaSinkGroup();

describe('Kafka consumer group → remote_write → VictoriaMetrics', () => {
  it('delivers every acknowledged sample; kill -9 of one member mid-stream loses nothing', async () => {
    const topic = freshTopic('downstream');
    const gateway = (g.gateway = await g.cluster.gateway(topic));
    const t0 = Date.now() - 4 * 3_600_000;
    const a = g.member(topic, 'kvm');
    const b = g.member(topic, 'kvm');
    const logs = () => `member a:\n${a.describe()}\nmember b:\n${b.describe()}`;
    await waitFor('both members assigned', () => {
      const all = [...(a.assigned() ?? []), ...(b.assigned() ?? [])].sort();
      return all.join(',') === '0,1,2,3' && (a.assigned() ?? []).length > 0 && (b.assigned() ?? []).length > 0;
    }, 45_000, logs);
    const load = startSampleLoad(gateway.port, 'k', 6, t0, 2, 'kafka_test');
    await waitFor('samples in the store', async () => (await g.storedCount('kafka_test', t0)) > 200, 30_000);
    a.kill('SIGKILL');
    await waitFor('the survivor to take all 4 partitions', () => (b.assigned() ?? []).length === 4, 45_000, logs);
    await waitFor('more samples after the takeover', async () => (await g.storedCount('kafka_test', t0)) > 600, 30_000);
    const sent = await load.stop();
    const acked = acknowledged(sent);
    expect(sent.filter((s) => s.status !== 200)).toEqual([]);
    await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await g.vm.export('kafka_test'), t0)) === 0, 45_000, logs);
    expectAllStored(acked, await g.vm.export('kafka_test'), t0);
    expect(metricSum(await b.metrics(), 'metricstream_consumer_records_delivered_total')).toBeGreaterThan(0);
  });

  it('records the store refuses (400) go to the <topic>.dead-letter topic, counted; the group moves on', async () => {
    const refusing = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400);
        res.end('out of bounds');
      });
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    try {
      const topic = freshTopic('downstream-dead');
      const gateway = (g.gateway = await g.cluster.gateway(topic));
      const acks = [];
      for (let i = 0; i < 3; i++) acks.push(await postMetrics(gateway.port, `dl-${i}`, { metrics: [{ name: 'refused', value: i }] }));
      expect(acks.map((a) => a.status)).toEqual([200, 200, 200]);
      const m = g.member(topic, 'kdead', `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/api/v1/write`);
      await waitFor('3 records dead-lettered', async () => metricSum(await m.metrics(), 'metricstream_consumer_dead_letter_records_total') === 3, 45_000);
      const dead = await consumeAll(g.cluster.broker.bootstrap, `${topic}.dead-letter`, 3);
      const entries = dead.map((d) => ({ key: d.key.toString(), ...JSON.parse(d.value.toString()) }));
      expect(entries.map((e) => e.key).sort()).toEqual(['dl-0', 'dl-1', 'dl-2']);
      for (const e of entries) {
        const ack = acks[Number(e.key.slice(3))].body;
        expect(e).toMatchObject({ group: 'kdead', sink: 'remote-write', partition: ack.partition, offset: ack.offset, status: 400, reason: 'HTTP 400: out of bounds' });
      }
      await waitFor('lag back to 0', async () => metricSum(await m.metrics(), 'metricstream_consumer_lag_records') === 0, 45_000);
    } finally {
      await new Promise<void>((r) => refusing.close(() => r()));
    }
  });
});
