/**
 * A spill damaged on disk (`--fallback file`): records answered 202 whose bytes the disk
 * lost or changed. As in file mode, the gateway must say what was lost instead of failing
 * in silence or looping: it refuses to start without --accept-data-loss (nothing changed
 * on disk), and with it starts, names the spill's partition and offsets at error level,
 * replays every good record and frees the spill. The dead-letter log (spilled records Kafka
 * refused) is held to the same rules. A replay cursor it cannot read is said
 * to be set aside, since replaying from the start sends Kafka what it may already hold.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_DIR_NAME, SPILL_DIR_NAME } from '../../src/kafka/fallback-sink.ts';
import { REPLAY_CURSOR_FILE } from '../../src/kafka/replay-cursor.ts';
import { partitionFor } from '../../src/records/partitioner.ts';
import { postMetrics, tempDir } from '../support/gateway-process.ts';
import { flipByte, framePositions } from '../support/segment-damage.ts';
import { consumeAll, freshTopic } from './helpers.ts';
import { OVERSIZED_BODY, range, send, spillGone, useKafkaCluster, valuesOf, waitFor } from './gateway-support.ts';
import { sampleOf, scrapeAdmin, scrapeSample } from '../support/admin-scrape.ts';

const cluster = useKafkaCluster();

describe('gateway --mode kafka --fallback file: a damaged spill', () => {
  for (const target of ['middle', 'last'] as const) {
    it(`one spilled record damaged (the ${target} one): refused without --accept-data-loss; with it, reported, every good record replayed, the spill freed`, async () => {
      const topic = freshTopic(`fb-damaged-${target}`);
      const dataDir = await tempDir('metricstream-fallback-damaged-');
      const client = `dmg-${target}`;
      const partition = partitionFor(Buffer.from(client), 4);
      await cluster.broker.proxy!.cut('refuse');
      const g1 = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir]);
      for (const seq of range(0, 20)) expect((await send(g1.port, client, seq)).status).toBe(202);
      await g1.stop('SIGKILL');

      const dir = path.join(dataDir, SPILL_DIR_NAME, `partition-${partition}`);
      const segment = path.join(dir, (await readdir(dir)).filter((f) => f.endsWith('.log')).sort()[0]);
      const positions = await framePositions(segment);
      expect(positions.length).toBe(20);
      const lost = target === 'middle' ? 7 : 19;
      await flipByte(segment, positions[lost] + 40);
      await cluster.broker.proxy!.restore();

      const refused = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir]).then(
        () => null,
        (e: Error) => e.message,
      );
      expect(refused).toMatch(new RegExp(`kafka-spill: acknowledged records are missing or damaged: partition ${partition}: offsets ${lost}-${lost} \\(1 records`));
      expect(refused).toMatch(/--accept-data-loss/);

      const g2 = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir, '--accept-data-loss', '--admin-port', '0']);
      await waitFor('the spill replayed and freed', spillGone(dataDir), 60_000);
      const errorLine = g2.logs.find((l) => l.level === 50 && typeof l.msg === 'string' && l.msg.includes('acknowledged records lost'));
      expect(errorLine?.msg).toMatch(new RegExp(`^kafka spill: partition ${partition}: acknowledged records lost: offsets ${lost}-${lost}`));
      // Counted on /metrics, and still after the spill (with its lost-offsets.json) is gone.
      expect(await scrapeSample(g2, `metricstream_log_records_lost_total{partition="${partition}"}`)).toBe(1);
      expect((await send(g2.port, client, 100)).status).toBe(200);
      expect(await g2.stop()).toBe(0);
      const want = [...range(0, 20).filter((s) => s !== lost), 100];
      expect(valuesOf(await consumeAll(cluster.broker.bootstrap, topic, want.length), client)).toEqual(want);
    });
  }

  it('a damaged dead-letter record: refused without --accept-data-loss; with it, reported, counted as lost and no longer as a dead letter', async () => {
    // As in fallback.test.ts: spilled under an 8 KiB request limit, refused on replay by a
    // gateway restarted with 2 KiB, so it is dead-lettered.
    const topic = freshTopic('fb-dead-damaged');
    const dataDir = await tempDir('metricstream-fallback-dead-damaged-');
    const client = 'dead-damaged';
    const partition = partitionFor(Buffer.from(client), 4);
    await cluster.broker.proxy!.cut('refuse');
    const g1 = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir, '--kafka-request-bytes', '8kb']);
    expect((await postMetrics(g1.port, client, OVERSIZED_BODY)).status).toBe(202);
    expect(await g1.stop()).toBe(0);
    await cluster.broker.proxy!.restore();
    const small = ['--fallback', 'file', '--data-dir', dataDir, '--kafka-request-bytes', '2kb'];
    const g2 = await cluster.gateway(topic, small);
    await waitFor('the spill freed', spillGone(dataDir), 30_000);
    expect(await g2.stop()).toBe(0);

    const dir = path.join(dataDir, DEAD_LETTER_DIR_NAME, `partition-${partition}`);
    const segment = path.join(dir, (await readdir(dir)).filter((f) => f.endsWith('.log')).sort()[0]);
    const positions = await framePositions(segment);
    expect(positions.length).toBe(1);
    await flipByte(segment, positions[0] + 40);

    const refused = await cluster.gateway(topic, small).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(refused).toMatch(new RegExp(`kafka-dead-letter: acknowledged records are missing or damaged: partition ${partition}: offsets 0-0`));
    expect(refused).toMatch(/--accept-data-loss/);

    const g3 = await cluster.gateway(topic, [...small, '--accept-data-loss', '--admin-port', '0']);
    const errorLine = g3.logs.find((l) => l.level === 50 && typeof l.msg === 'string' && l.msg.includes('acknowledged records lost'));
    expect(errorLine?.msg).toMatch(new RegExp(`^kafka dead-letter log: partition ${partition}: acknowledged records lost: offsets 0-0`));
    const metrics = await scrapeAdmin(g3);
    expect(sampleOf(metrics, `metricstream_log_records_lost_total{partition="${partition}"}`)).toBe(1);
    expect(sampleOf(metrics, 'metricstream_kafka_dead_letter_records')).toBe(0);
    expect(await g3.stop()).toBe(0);
  });

  it(`a ${REPLAY_CURSOR_FILE} that is not JSON: said so at warn level, the whole spill replayed, the spill freed`, async () => {
    const topic = freshTopic('fb-cursor');
    const dataDir = await tempDir('metricstream-fallback-cursor-');
    const client = 'cursor-torn';
    await cluster.broker.proxy!.cut('refuse');
    const g1 = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir]);
    for (const seq of range(0, 10)) expect((await send(g1.port, client, seq)).status).toBe(202);
    await g1.stop('SIGKILL');
    // The cursor is replaced by rename, so a torn one takes a disk that lies; any
    // unreadable cursor must be set aside in the open, not silently.
    await writeFile(path.join(dataDir, SPILL_DIR_NAME, REPLAY_CURSOR_FILE), '{"version":1,"next":[3,');
    await cluster.broker.proxy!.restore();

    const g2 = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir]);
    await waitFor('the spill replayed and freed', spillGone(dataDir), 60_000);
    const warning = g2.logs.find((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.includes(REPLAY_CURSOR_FILE));
    expect(warning?.msg).toMatch(/cannot be used \(not JSON .*\): replaying the whole spill/);
    expect(warning?.dir).toBe(path.join(dataDir, SPILL_DIR_NAME));
    expect(await g2.stop()).toBe(0);
    expect(valuesOf(await consumeAll(cluster.broker.bootstrap, topic, 10), client)).toEqual(range(0, 10));
  });
});
