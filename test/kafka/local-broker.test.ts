/**
 * The dev/test cluster: kcat's mock cluster behind KafkaProxy, and what a sink sees when
 * the cluster process dies for good.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { assertKcat, KCAT_MISSING, startLocalBroker, type LocalBroker } from '../support/local-broker.ts';
import { KafkaSink } from '../../src/kafka/kafka-sink.ts';
import { silentLogger } from '../../src/kafka/kafkajs-log.ts';
import { freshTopic, makeRecords } from './helpers.ts';

const { Kafka, logLevel } = kafkajs;

describe('startLocalBroker', () => {
  let broker: LocalBroker;
  beforeAll(async () => {
    broker = await startLocalBroker({ brokers: 3, topic: 'metrics' });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('says how to install kcat when it is missing', () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => assertKcat()).toThrow(KCAT_MISSING);
    } finally {
      process.env.PATH = path;
    }
  });

  it('serves metadata through the proxy only, with a controller that exists', async () => {
    const admin = new Kafka({ brokers: broker.bootstrap.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      const advertised = cluster.brokers.map((b) => `${b.host}:${b.port}`).sort();
      expect(advertised).toEqual(broker.bootstrap.split(',').sort());
      expect(cluster.brokers.map((b) => b.nodeId)).toContain(cluster.controller);
      const md = await admin.fetchTopicMetadata({ topics: ['metrics'] });
      expect(md.topics[0].partitions).toHaveLength(4);
    } finally {
      await admin.disconnect();
    }
  });

  it('latency: connections opened after setLatency hold every frame that long each way, in order', async () => {
    const proxy = broker.proxy!;
    const before = proxy.delayStats().frames;
    proxy.setLatency(20);
    const admin = new Kafka({ brokers: broker.bootstrap.split(','), logLevel: logLevel.NOTHING }).admin();
    try {
      await admin.connect();
      // several requests on one connection: answers still match their requests
      const [a, b] = await Promise.all([admin.fetchTopicMetadata({ topics: ['metrics'] }), admin.describeCluster()]);
      expect(a.topics[0].partitions).toHaveLength(4);
      expect(b.brokers).toHaveLength(3);
      const d = proxy.delayStats();
      expect(d.frames - before).toBeGreaterThanOrEqual(4);
      // by construction, not a performance figure: no frame leaves before its time
      expect(d.meanMs).toBeGreaterThanOrEqual(20);
    } finally {
      await admin.disconnect();
      proxy.setLatency(0);
    }
    expect(() => proxy.setLatency(-1)).toThrow();
  });
});

describe('sink when the cluster process dies', () => {
  it('append resolves with -1 and an error; the sink goes not ready', async () => {
    const broker = await startLocalBroker({ brokers: 1 });
    const topic = freshTopic('killed');
    const sink = new KafkaSink({
      brokers: broker.bootstrap.split(','),
      topic,
      acks: -1,
      compression: 'lz4',
      idempotent: false,
      flushTimeoutMs: 1000,
      requestTimeoutMs: 800,
      connectionTimeoutMs: 300,
      retries: 1,
      logger: silentLogger,
    });
    try {
      await sink.open();
      const ok = await sink.append(makeRecords(4));
      expect(ok.error).toBeUndefined();
      broker.kill();
      await broker.exited; // kcat is gone
      const r = await sink.append(makeRecords(4));
      expect(Array.from(r.offsets)).toEqual([-1, -1, -1, -1]);
      expect(r.error).toBeTruthy();
      expect(sink.isReady()).toBe(false);
      expect((await sink.closeWithReport()).undelivered).toBe(0);
    } finally {
      await sink.close();
      await broker.stop();
    }
  });
});
