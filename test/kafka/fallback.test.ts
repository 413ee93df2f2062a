/**
 * `--fallback file` through the real gateway: while the broker is cut off, records are
 * answered 202 {spilled:true} and are durable in `<data-dir>/kafka-spill/`; once it is
 * back they are replayed into the topic in per-partition order (records sent later come
 * after them), and the spill is freed. A crash, or a shutdown, while records wait in the
 * spill loses none of them: the next start replays them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_DIR_NAME, FallbackSink, SPILL_DIR_NAME, type FallbackSinkOptions } from '../../src/kafka/fallback-sink.ts';
import { KafkaSink, type KafkaSinkOptions } from '../../src/kafka/kafka-sink.ts';
import { silentLogger, type SinkLogger } from '../../src/kafka/kafkajs-log.ts';
import type { SinkRecord } from '../../src/sink/sink.ts';
import { LogReader } from '../../src/log/log-reader.ts';
import { partitionFor } from '../../src/records/partitioner.ts';
import { postMetrics, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { consumeAll, freshTopic, makeRecords, type ReadMessage } from './helpers.ts';
import {
  deadLettered,
  decodeValue,
  logged,
  OVERSIZED_BODY,
  range,
  readyz,
  send,
  spillGone,
  startLoad,
  storedValue,
  useKafkaCluster,
  valuesOf,
  waitFor,
  type Outcome,
} from './gateway-support.ts';
import { scrapeSample } from '../support/admin-scrape.ts';

// One mock cluster for this file; fails (never skips) when kcat is missing.
const cluster = useKafkaCluster();

function fallbackGateway(topic: string, dataDir: string): Promise<GatewayProcess> {
  return cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir]);
}

/** Sends `seqs` of `client` one after another (each answered before the next is sent). */
async function sendInOrder(port: number, client: string, seqs: number[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const seq of seqs) out.push(await send(port, client, seq));
  return out;
}


/** Every record of the spill, per partition in offset order, as [client, seq]. */
async function spillContents(dataDir: string): Promise<Map<number, [string, number][]>> {
  const reader = await LogReader.open(path.join(dataDir, SPILL_DIR_NAME));
  const out = new Map<number, [string, number][]>();
  try {
    for (let p = 0; p < 4; p++) {
      const res = await reader.read(p, 0, 100_000);
      out.set(p, res.records.map((r) => [Buffer.from(r.key).toString(), decodeValue(r.value).metrics[0].value]));
    }
  } finally {
    await reader.close();
  }
  return out;
}


describe('gateway --mode kafka --fallback file', () => {
  it('spills while the broker is cut off (202 spilled), replays in order once it is back, then frees the spill', async () => {
    const topic = freshTopic('fb-spill');
    const dataDir = await tempDir('metricstream-fallback-');
    const g = await fallbackGateway(topic, dataDir);
    const clients = ['fb-a', 'fb-b', 'fb-c', 'fb-d'];

    const before = await Promise.all(clients.map((c) => sendInOrder(g.port, c, range(0, 5))));
    for (const o of before.flat()) expect(o.status).toBe(200);

    await cluster.broker.proxy!.cut('refuse');
    const during = await Promise.all(clients.map((c) => sendInOrder(g.port, c, range(5, 25))));
    for (const o of during.flat()) {
      expect(o.status, JSON.stringify(o)).toBe(202);
      expect(o.body.spilled).toBe(true);
      expect(o.body.partition).toBe(partitionFor(Buffer.from(o.client), 4));
    }
    // still ready: the spill takes writes
    expect(await readyz(g.port)).toBe(200);
    expect(logged(g.logs, /^kafka down: spilling to .*kafka-spill$/)).toBe(true);

    // durable in the spill, per partition in the order sent
    const spill = await spillContents(dataDir);
    for (const c of clients) {
      const inSpill = spill.get(partitionFor(Buffer.from(c), 4))!.filter(([k]) => k === c).map(([, seq]) => seq);
      expect(inSpill).toEqual(range(5, 25));
    }

    await cluster.broker.proxy!.restore();
    // sent right after the restore: spilled behind the rest, or direct once replayed
    const after = await Promise.all(clients.map((c) => sendInOrder(g.port, c, range(25, 40))));
    for (const o of after.flat()) expect([200, 202]).toContain(o.status);

    await waitFor('the spill freed', spillGone(dataDir), 30_000);
    await waitFor('the freed log line', () => logged(g.logs, /^spill replayed and freed$/), 10_000);
    expect(logged(g.logs, /^kafka back: replaying \d+ spilled records$/)).toBe(true);

    const read = await consumeAll(cluster.broker.bootstrap, topic, clients.length * 40);
    expect(read).toHaveLength(clients.length * 40);
    for (const c of clients) expect(valuesOf(read, c)).toEqual(range(0, 40));

    // back to direct mode: answered with a Kafka offset, right after the rest
    const direct = await send(g.port, 'fb-a', 40);
    expect(direct.status).toBe(200);
    const offsets = read.filter((m) => m.key.toString() === 'fb-a').map((m) => m.offset);
    expect(direct.body.offset).toBe(Math.max(...offsets) + 1);
    expect(await g.stop()).toBe(0);
  });

  it('a record larger than Kafka takes gets 413 whether Kafka is up or the gateway spills, never 202', async () => {
    const topic = freshTopic('fb-413');
    const dataDir = await tempDir('metricstream-fallback-');
    const g = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir, '--kafka-request-bytes', '2kb']);
    await waitFor('ready', async () => (await readyz(g.port)) === 200);
    const up = await postMetrics(g.port, 'fb-big', OVERSIZED_BODY);
    expect(up.status, JSON.stringify(up.body)).toBe(413);
    expect(up.body.error).toMatch(/larger than the sink accepts/);
    expect((await send(g.port, 'fb-small', 0)).status).toBe(200);

    await cluster.broker.proxy!.cut('refuse');
    await waitFor('spilling', async () => (await send(g.port, 'fb-small', 1)).status === 202, 20_000, { everyMs: 100 });
    const down = await postMetrics(g.port, 'fb-big', OVERSIZED_BODY);
    expect(down.status, JSON.stringify(down.body)).toBe(413);
    await cluster.broker.proxy!.restore();
    await waitFor('the spill freed', spillGone(dataDir), 30_000);
    expect(existsSync(path.join(dataDir, DEAD_LETTER_DIR_NAME))).toBe(false);
    expect(await g.stop()).toBe(0);
  });

  it('a spilled record Kafka refuses on replay is kept in the dead-letter log, logged and counted on /metrics, never dropped', async () => {
    // Spilled under a 8 KiB request limit; replayed by a gateway restarted with 2 KiB,
    // which refuses it (as a broker with a smaller message.max.bytes would).
    const topic = freshTopic('fb-dead');
    const dataDir = await tempDir('metricstream-fallback-');
    await cluster.broker.proxy!.cut('refuse');
    const g1 = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir, '--kafka-request-bytes', '8kb']);
    const spilled = await postMetrics(g1.port, 'fb-dead-big', OVERSIZED_BODY);
    expect(spilled.status, JSON.stringify(spilled.body)).toBe(202);
    expect((await send(g1.port, 'fb-dead-small', 0)).status).toBe(202);
    expect(await g1.stop()).toBe(0);

    await cluster.broker.proxy!.restore();
    const g2 = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir, '--kafka-request-bytes', '2kb', '--admin-port', '0']);
    await waitFor('the spill freed', spillGone(dataDir), 30_000);
    // the log line may reach us after the spill directory is gone (stdout is asynchronous)
    await waitFor('the dead-letter error line', () => g2.logs.some((l) => l.level === 50 && /moved it to the dead-letter log/.test(String(l.msg))), 10_000);
    expect(await scrapeSample(g2, 'metricstream_kafka_dead_letter_records')).toBe(1);

    // the small one reached Kafka; the big one is in the dead-letter log, bytes intact
    const read = await consumeAll(cluster.broker.bootstrap, topic, 1);
    expect(read.map((m) => m.key.toString())).toEqual(['fb-dead-small']);
    expect(await g2.stop()).toBe(0);
    expect(await deadLettered(dataDir, 'fb-dead-big')).toEqual([{ key: 'fb-dead-big', value: OVERSIZED_BODY }]);
  });

  it('concurrent clients through a cut and a restore: never a 503, every record in Kafka, in each client\'s order', async () => {
    const topic = freshTopic('fb-load');
    const dataDir = await tempDir('metricstream-fallback-');
    const g = await fallbackGateway(topic, dataDir);
    const load = startLoad(g.port, 'fb-load', 6, 2);
    await waitFor('200s before the cut', () => load.outcomes.filter((o) => o.status === 200).length >= 60);
    await cluster.broker.proxy!.cut('refuse');
    const cutAt = load.outcomes.length;
    await waitFor('spilled answers', () => load.outcomes.slice(cutAt).filter((o) => o.status === 202).length >= 60);
    await cluster.broker.proxy!.restore();
    await waitFor('the spill freed under load', spillGone(dataDir), 30_000);
    const freedAt = load.outcomes.length;
    await waitFor('200s after the replay', () => load.outcomes.slice(freedAt).filter((o) => o.status === 200).length >= 30);
    const outcomes = await load.stop();

    for (const o of outcomes) {
      expect([200, 202], JSON.stringify(o)).toContain(o.status);
      if (o.status === 202) expect(o.body.spilled).toBe(true);
    }
    const spilled = outcomes.filter((o) => o.status === 202).length;
    expect(spilled).toBeGreaterThanOrEqual(60);
    const read = await consumeAll(cluster.broker.bootstrap, topic, outcomes.length);
    const byPos = new Map(read.map((m) => [`${m.partition}/${m.offset}`, m]));
    for (const o of outcomes.filter((x) => x.status === 200)) {
      const m = byPos.get(`${o.body.partition}/${o.body.offset}`);
      expect(m, `${o.client}#${o.seq}`).toBeDefined();
      expect(m!.value.equals(storedValue(o.client, o.seq))).toBe(true);
    }
    for (let c = 0; c < 6; c++) {
      const client = `fb-load-${c}`;
      const sent = outcomes.filter((o) => o.client === client).length;
      const values = valuesOf(read, client);
      // At-least-once: a send whose acknowledgement the cut swallowed is spilled and
      // replayed too. Such a repeat is a spilled record, and first occurrences keep order.
      const firsts = values.filter((v, i) => values.indexOf(v) === i);
      expect(firsts).toEqual(range(0, sent));
      for (let i = 0; i < values.length; i++) {
        if (values.indexOf(values[i]) !== i) {
          expect(outcomes.find((o) => o.client === client && o.seq === values[i])!.status).toBe(202);
        }
      }
    }
    expect(await g.stop()).toBe(0);
  });

  it('shutdown and crash while records wait in the spill: none lost, the next start replays them', async () => {
    const topic = freshTopic('fb-crash');
    const dataDir = await tempDir('metricstream-fallback-');
    const client = 'fb-crash-a';
    await cluster.broker.proxy!.cut('refuse');

    // 1. broker down from the start: spill, then SIGTERM reports what is still only local
    const g1 = await fallbackGateway(topic, dataDir);
    const first = await sendInOrder(g1.port, client, range(0, 10));
    for (const o of first) expect(o.body.spilled).toBe(true);
    expect(await g1.stop('SIGTERM')).toBe(0);
    const done = g1.logs.find((l) => l.msg === 'shutdown complete');
    expect(done!.undelivered).toBe(10);
    expect(g1.stderr.join('\n')).toMatch(/10 record\(s\) still undelivered at shutdown/);
    expect(logged(g1.logs, /10 records are durable in .*kafka-spill and will be replayed at the next start/)).toBe(true);

    // 2. restart, still down: the old spill is found, new records queue behind it; kill -9
    const g2 = await fallbackGateway(topic, dataDir);
    expect(logged(g2.logs, /kafka spill found at .*: 10 records not yet replayed/)).toBe(true);
    const second = await sendInOrder(g2.port, client, range(10, 20));
    for (const o of second) expect(o.body.spilled).toBe(true);
    expect(await g2.stop('SIGKILL')).toBe('SIGKILL');

    // 3. broker back, restart: everything replayed, in order, and the spill freed
    await cluster.broker.proxy!.restore();
    const g3 = await fallbackGateway(topic, dataDir);
    await waitFor('the spill freed', spillGone(dataDir), 30_000);
    const more = await send(g3.port, client, 20);
    expect(more.status).toBe(200);
    const read = await consumeAll(cluster.broker.bootstrap, topic, 21);
    expect(read).toHaveLength(21);
    expect(valuesOf(read, client)).toEqual(range(0, 21));
    expect(await g3.stop()).toBe(0);
  });
});

/** A logger keeping every line's level and message. */
function recordingLogger(): SinkLogger & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, msg: msg ?? '', obj });
  return { lines, debug: () => {}, info: at('info'), warn: at('warn'), error: at('error') };
}

function fallbackSink(
  topic: string,
  dataDir: string,
  opts: Partial<FallbackSinkOptions> & { partitions?: number } = {},
  kafkaOpts: Partial<KafkaSinkOptions> = {},
): FallbackSink {
  const partitions = opts.partitions ?? 4;
  const kafka = new KafkaSink({
    brokers: cluster.broker.bootstrap.split(','),
    topic,
    acks: -1,
    compression: 'none',
    idempotent: false,
    flushTimeoutMs: 2000,
    logger: silentLogger,
    connectionTimeoutMs: 500,
    retries: 1,
    ...(partitions === 4 ? { expectPartitions: 4 } : {}),
    ...kafkaOpts,
  });
  return new FallbackSink(kafka, { dataDir, partitions, logger: silentLogger, pollMs: 20, ...opts });
}

/** Per partition, the keys of `records` in order. */
function keysByPartition(records: { partition: number; key: Uint8Array }[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const r of records) out.set(r.partition, [...(out.get(r.partition) ?? []), Buffer.from(r.key).toString()]);
  return out;
}

function readOrder(read: ReadMessage[]): Map<number, string[]> {
  return keysByPartition([...read].sort((a, b) => a.partition - b.partition || a.offset - b.offset));
}

describe('FallbackSink in process', () => {
  it('a replay stopped by close() resumes from its saved cursor at the next open: each record once, in order', async () => {
    const topic = freshTopic('fb-resume');
    const dataDir = await tempDir('metricstream-fallback-');
    const records: SinkRecord[] = [...makeRecords(100, 4, 'x'), ...makeRecords(100, 4, 'y')];

    await cluster.broker.proxy!.cut('refuse');
    const s1 = fallbackSink(topic, dataDir);
    await s1.open();
    expect(s1.isReady()).toBe(true); // Kafka down, the spill takes writes
    for (const batch of [records.slice(0, 100), records.slice(100)]) {
      const r = await s1.append(batch);
      expect(Array.from(r.spilled!)).toEqual(new Array(100).fill(1));
    }
    expect(await s1.close()).toBe(200);

    // Kafka back: replay in batches of 10, stopped by close() once some went out
    await cluster.broker.proxy!.restore();
    const s2 = fallbackSink(topic, dataDir, { maxReplayRecords: 10, replayAtCloseMs: 0 });
    await s2.open();
    await waitFor('replay under way', () => s2.pendingReplay < 200, 20_000, { everyMs: 1 });
    const left = await s2.close();
    expect(left).toBeLessThan(200);
    const partial = await consumeAll(cluster.broker.bootstrap, topic, 200 - left);
    expect(partial).toHaveLength(200 - left);

    const s3 = fallbackSink(topic, dataDir, { maxReplayRecords: 10 });
    await s3.open();
    await waitFor('the spill freed', spillGone(dataDir), 20_000);
    expect(s3.pendingReplay).toBe(0);
    expect(await s3.close()).toBe(0);

    const read = await consumeAll(cluster.broker.bootstrap, topic, 200);
    expect(read).toHaveLength(200);
    expect(readOrder(read)).toEqual(keysByPartition(records));
  });

  it('a spilled record Kafka refuses while up goes to the dead-letter log (reported, counted), never dropped, and does not block its partition', async () => {
    // an 8-partition spill in front of a 4-partition topic: records for partitions 4-7
    // are refused by the producer while the cluster is fine
    const topic = freshTopic('fb-poison');
    const dataDir = await tempDir('metricstream-fallback-');
    const logger = recordingLogger();
    await cluster.broker.proxy!.cut('refuse');
    const sink = fallbackSink(topic, dataDir, { partitions: 8, logger });
    await sink.open();
    const records = makeRecords(40, 8, 'p');
    const r = await sink.append(records);
    expect(Array.from(r.spilled!).every((f) => f === 1)).toBe(true);

    await cluster.broker.proxy!.restore();
    await waitFor('the spill freed', spillGone(dataDir), 20_000);
    const refused = records.filter((x) => x.partition >= 4);
    expect(refused.length).toBeGreaterThan(0);
    expect(sink.deadLetterRecords).toBe(refused.length);
    expect(logger.lines.filter((l) => l.level === 'error' && /dead-letter/.test(l.msg))).toHaveLength(refused.length);
    expect(logger.lines.some((l) => l.msg === 'spill replayed and freed')).toBe(true);

    // direct again: such a record is answered -1 (503) like without the fallback, not spilled
    const more = makeRecords(16, 8, 'q');
    const d = await sink.append(more);
    for (let i = 0; i < more.length; i++) {
      if (more[i].partition >= 4) expect(d.offsets[i]).toBe(-1);
      else expect(d.offsets[i]).toBeGreaterThanOrEqual(0);
    }
    expect(d.spilled?.some((f) => f === 1) ?? false).toBe(false);
    expect(existsSync(path.join(dataDir, SPILL_DIR_NAME))).toBe(false);
    expect(await sink.close()).toBe(0);

    // every refused record is in the dead-letter log, bytes intact, in its partition's order
    const reader = await LogReader.open(path.join(dataDir, DEAD_LETTER_DIR_NAME));
    try {
      for (let p = 4; p < 8; p++) {
        const res = await reader.read(p, 0, 1000);
        const want = refused.filter((x) => x.partition === p);
        expect(res.records.map((x) => Buffer.from(x.key).toString())).toEqual(want.map((x) => Buffer.from(x.key).toString()));
        res.records.forEach((x, i) => expect(Buffer.from(x.value).equals(Buffer.from(want[i].value))).toBe(true));
      }
    } finally {
      await reader.close();
    }
    // counted again at the next start, with an error line
    const again = fallbackSink(topic, dataDir, { partitions: 8, logger });
    await again.open();
    expect(again.deadLetterRecords).toBe(refused.length);
    expect(await again.close()).toBe(0);

    const delivered = [...records, ...more].filter((x) => x.partition < 4);
    const read = await consumeAll(cluster.broker.bootstrap, topic, delivered.length);
    expect(read).toHaveLength(delivered.length);
    expect(readOrder(read)).toEqual(keysByPartition(delivered));
  });

  it('a record larger than Kafka takes is refused up front, spilling or not: never answered spilled', async () => {
    const topic = freshTopic('fb-large');
    const dataDir = await tempDir('metricstream-fallback-');
    const small = makeRecords(8, 4, 's');
    const large: SinkRecord = { ...small[0], key: Buffer.from('big'), value: Buffer.alloc(4096, 0x61) };
    const batch = [small[0], large, ...small.slice(1)];
    const sink = fallbackSink(topic, dataDir, {}, { maxPartitionBatchBytes: 2048 });
    await sink.open();
    await waitFor('ready', () => sink.isReady());
    const direct = await sink.append(batch);
    expect(Array.from(direct.refused!)).toEqual(batch.map((x) => (x === large ? 1 : 0)));
    expect(direct.offsets[1]).toBe(-1);
    expect(Array.from(direct.offsets).filter((o) => o >= 0)).toHaveLength(8);

    await cluster.broker.proxy!.cut('refuse');
    await waitFor('kafka seen down', async () => {
      const probe = await sink.append([small[0]]);
      return probe.spilled?.[0] === 1;
    }, 20_000, { everyMs: 100 });
    const spilling = await sink.append(batch);
    expect(Array.from(spilling.refused!)).toEqual(batch.map((x) => (x === large ? 1 : 0)));
    expect(Array.from(spilling.spilled!)).toEqual(batch.map((x) => (x === large ? 0 : 1)));
    expect(spilling.offsets[1]).toBe(-1);
    await cluster.broker.proxy!.restore();
    await waitFor('the spill freed', spillGone(dataDir), 20_000);
    expect(sink.deadLetterRecords).toBe(0);
    expect(existsSync(path.join(dataDir, DEAD_LETTER_DIR_NAME))).toBe(false);
    await sink.close();
  });
});
