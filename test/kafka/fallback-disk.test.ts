/**
 * `--fallback file` on a disk that fails or stops answering. While the broker is away the
 * spill is the only durable place (and the dead-letter log the only one for what Kafka
 * refuses), so their disk problems must be reported like the file mode's (an error line
 * naming the spill or the dead-letter log, metricstream_log_errors_total), and a spill
 * write that stalls must turn the gateway not ready and refuse new requests at once rather
 * than queue them behind it. Faults come from the FUSE layer (test/tools/powercut_fs.py).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountPowerCut, usePowerCutFixture } from '../support/powercut-fs.ts';
import { adminPortOf, postMetrics, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { REPLAY_CURSOR_FILE } from '../../src/kafka/replay-cursor.ts';
import { gaveUpOnDiskLine } from '../../src/log/partitioned-log.ts';
import { consumeAll, freshTopic } from './helpers.ts';
import { deadLettered, OVERSIZED_BODY, readyz, readyzDiskStalled, send, spillGone, useKafkaCluster, valuesOf, waitFor } from './gateway-support.ts';
import { waitForSample } from '../support/admin-scrape.ts';

const cluster = useKafkaCluster();
const fx = usePowerCutFixture();

async function start(topic: string, extra: string[] = []): Promise<{ g: GatewayProcess; admin: number; dataDir: string }> {
  fx.dir = await tempDir('metricstream-fallback-disk-');
  fx.layer = await mountPowerCut(fx.dir);
  const dataDir = path.join(fx.layer.mount, 'data');
  const g = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir, '--disk-stall-timeout', '1s', '--admin-port', '0', ...extra]);
  fx.gateway = g;
  return { g, admin: adminPortOf(g), dataDir };
}

const spillErrors = (g: GatewayProcess, kind: string, log = 'kafka spill') => g.logs.filter((l) => l.level === 50 && l.kind === kind && l.log === log);

/**
 * The stalled-spill scenes' start: record 0 reaches Kafka (200), the brokers are cut,
 * record 1 is spilled (202), then the spill's `.log` files stop answering (`op`) and
 * record 2 waits on them; resolves once /readyz says the disk stalled.
 */
async function spillThenStall(topic: string, client: string, op: 'fsync' | 'write', extra: string[] = []) {
  const started = await start(topic, extra);
  const { g } = started;
  expect((await send(g.port, client, 0)).status).toBe(200);
  await cluster.broker.proxy!.cut('refuse');
  expect((await send(g.port, client, 1)).status).toBe(202);
  await fx.layer!.stall('.log', op);
  const waiting = send(g.port, client, 2);
  await waitFor('/readyz 503 "disk stalled"', () => readyzDiskStalled(g.port), 10_000);
  return { ...started, waiting };
}

/**
 * Their end once the disk answers: the waiting record 202, spilling again (record 4: 202),
 * the brokers back, the spill replayed and freed; the topic holds 0, 1, 2 and 4 (record 3
 * was the refused one).
 */
async function healAndReplay(g: GatewayProcess, topic: string, client: string, waiting: ReturnType<typeof send>): Promise<void> {
  await fx.layer!.heal();
  expect((await waiting).status).toBe(202);
  await waitFor('/readyz 200 (spilling again)', async () => (await readyz(g.port)) === 200, 10_000);
  await waitFor('stall recovery line', () => g.logs.some((l) => l.msg === 'kafka spill: the disk answers again: the stalled write completed'), 10_000);
  expect((await send(g.port, client, 4)).status).toBe(202);
  await cluster.broker.proxy!.restore();
  await waitFor('the spill replayed and freed', spillGone(path.join(fx.layer!.mount, 'data')), 60_000);
  expect(await g.stop()).toBe(0);
  fx.gateway = undefined;
  expect(valuesOf(await consumeAll(cluster.broker.bootstrap, topic, 4), client)).toEqual([0, 1, 2, 4]);
}

describe('gateway --mode kafka --fallback file: the spill\'s and the dead-letter log\'s disk', () => {
  it('a spill write that stalls: error line, counter, /readyz 503 and new requests 503; the waiting record is answered 202 when the disk answers, and reaches the topic', async () => {
    const topic = freshTopic('fb-stall');
    const { g, admin, waiting } = await spillThenStall(topic, 'st', 'fsync');
    expect(await (await fetch(`http://127.0.0.1:${g.port}/readyz`)).json()).toEqual({ ready: false, reason: 'disk stalled' });
    await waitFor('stall error line', () => spillErrors(g, 'stall').length > 0, 10_000);
    expect(spillErrors(g, 'stall')[0]?.msg).toMatch(/^kafka spill: the disk stopped answering \(past --disk-stall-timeout\).*a commit has waited \d+ ms/);
    await waitForSample(admin, 'metricstream_log_errors_total{kind="stall"}', 1);

    // Refused before its body is read, not queued behind the stalled spill write.
    const refused = await send(g.port, 'st', 3);
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatch(/the disk has not finished a commit within --disk-stall-timeout: not stored/);
    await waitForSample(admin, 'metricstream_requests_rejected_total{reason="disk_stalled"}', 1);
    await healAndReplay(g, topic, 'st', waiting);
  });

  it('a spill write() the disk holds blocks the owner thread, kafkajs with it: the workers refuse new requests, one of them says why; once the disk answers the waiting record is answered 202 and every record reaches the topic', async () => {
    const topic = freshTopic('fb-held');
    const { g, waiting } = await spillThenStall(topic, 'hw', 'write');
    expect((await send(g.port, 'hw', 3)).status).toBe(503);
    await waitFor('a worker\'s line', () => g.logs.some((l) => l.level === 50 && typeof l.msg === 'string' && l.msg.startsWith('the disk has held the owner thread for ')), 10_000);
    // kafkajs lost its thread for seconds: it reconnects and the spill replays.
    await healAndReplay(g, topic, 'hw', waiting);
  });

  it('SIGTERM while a spill write is stalled: 504 for the waiting record at --flush-timeout, exit 1 once the disk answers; the next start replays every 202', async () => {
    const topic = freshTopic('fb-stall-stop');
    const { g, dataDir, waiting } = await spillThenStall(topic, 'ss', 'fsync', ['--flush-timeout', '2s']);
    g.proc.kill('SIGTERM');
    const answer = await waiting;
    expect(answer.status).toBe(504);
    expect(answer.body.error).toMatch(/may have been stored/);
    await waitFor('shutdown summary', () => g.logs.some((l) => l.msg === 'shutdown complete, but the disk never answered: exit 1'), 10_000);
    expect(g.logs.some((l) => l.level === 50 && l.msg === gaveUpOnDiskLine('the kafka spill'))).toBe(true);
    expect(g.proc.exitCode).toBe(null);
    await fx.layer!.heal();
    expect(await g.exited).toBe(1);
    fx.gateway = undefined;

    await cluster.broker.proxy!.restore();
    const again = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir]);
    fx.gateway = again;
    await waitFor('the spill replayed and freed', spillGone(dataDir), 60_000);
    expect(await again.stop()).toBe(0);
    fx.gateway = undefined;
    // The 504's record may or may not have been spilled; every 200 and 202 reached the topic.
    const values = valuesOf(await consumeAll(cluster.broker.bootstrap, topic, 2), 'ss');
    expect([[0, 1], [0, 1, 2]]).toContainEqual(values);
  });

  it('saving the replay cursor stalls: error line, /readyz 503 and new requests 503 (the replay holds every append); the replay finishes once the disk answers', async () => {
    const topic = freshTopic('fb-cursor');
    const { g } = await start(topic);
    await cluster.broker.proxy!.cut('refuse');
    for (let seq = 0; seq < 3; seq++) expect((await send(g.port, 'cu', seq)).status).toBe(202);

    await fx.layer!.stall(REPLAY_CURSOR_FILE + '.tmp');
    await cluster.broker.proxy!.restore();
    await waitFor('/readyz 503 "disk stalled"', () => readyzDiskStalled(g.port), 30_000);
    await waitFor('stall error line', () => spillErrors(g, 'stall').length > 0, 10_000);
    expect(spillErrors(g, 'stall')[0]?.msg).toMatch(/^kafka spill: the disk stopped answering \(past --disk-stall-timeout\).*: saving the replay cursor has waited \d+ ms$/);
    const refused = await send(g.port, 'cu', 3);
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatch(/the disk has not finished a commit within --disk-stall-timeout/);

    await fx.layer!.heal();
    await waitFor('the spill replayed and freed', spillGone(path.join(fx.layer!.mount, 'data')), 60_000);
    await waitFor('stall recovery line', () => g.logs.some((l) => l.msg === 'kafka spill: the disk answers again: the stalled write completed'), 10_000);
    await waitFor('/readyz 200', async () => (await readyz(g.port)) === 200, 10_000);
    expect((await send(g.port, 'cu', 4)).status).toBe(200);
    expect(await g.stop()).toBe(0);
    fx.gateway = undefined;
    expect(valuesOf(await consumeAll(cluster.broker.bootstrap, topic, 4), 'cu')).toEqual([0, 1, 2, 4]);
  });

  for (const [what, suffix, step] of [
    ['its segment write', '.log', /the disk stopped answering \(past --disk-stall-timeout\): .*: a commit has waited \d+ ms for its write and fdatasync to return/],
    ['opening it', 'meta.json.tmp', /the disk stopped answering \(past --disk-stall-timeout\): .*: opening the dead-letter log has waited \d+ ms/],
  ] as const) {
    it(`the dead-letter log stalls (${what}): error line naming it, /readyz 503 and new requests 503; once the disk answers the refused record is dead-lettered, never dropped`, async () => {
      // As in fallback.test.ts: spilled under an 8 KiB request limit, refused on replay by a
      // gateway restarted with 2 KiB. The stall starts before the replay, and the spill only
      // reads then: the dead-letter log is the one creating files and writing segments.
      const topic = freshTopic('fb-dead-stall');
      const first = await start(topic, ['--kafka-request-bytes', '8kb']);
      await cluster.broker.proxy!.cut('refuse');
      expect((await postMetrics(first.g.port, 'ds-big', OVERSIZED_BODY)).status).toBe(202);
      expect(await first.g.stop()).toBe(0);
      const g = await cluster.gateway(topic, ['--fallback', 'file', '--data-dir', first.dataDir, '--disk-stall-timeout', '1s', '--kafka-request-bytes', '2kb', '--admin-port', '0']);
      fx.gateway = g;
      await fx.layer!.stall(suffix);
      await cluster.broker.proxy!.restore();

      await waitFor('/readyz 503 "disk stalled"', () => readyzDiskStalled(g.port), 30_000);
      await waitFor('stall error line', () => spillErrors(g, 'stall', 'kafka dead-letter log').length > 0, 10_000);
      expect(spillErrors(g, 'stall', 'kafka dead-letter log')[0]?.msg).toMatch(new RegExp(`^kafka dead-letter log: ${step.source}$`));
      expect(spillErrors(g, 'stall')).toEqual([]);
      expect((await send(g.port, 'ds', 0)).status).toBe(503);

      await fx.layer!.heal();
      await waitFor('the spill replayed and freed', spillGone(first.dataDir), 60_000);
      await waitFor('stall recovery line', () => g.logs.some((l) => l.msg === 'kafka dead-letter log: the disk answers again: the stalled write completed'), 10_000);
      await waitFor('/readyz 200', async () => (await readyz(g.port)) === 200, 10_000);
      await waitForSample(g, 'metricstream_kafka_dead_letter_records', 1);
      expect((await send(g.port, 'ds', 1)).status).toBe(200);
      expect(await g.stop()).toBe(0);
      fx.gateway = undefined;
      expect(await deadLettered(first.dataDir, 'ds-big')).toEqual([{ key: 'ds-big', value: OVERSIZED_BODY }]);
      expect(valuesOf(await consumeAll(cluster.broker.bootstrap, topic, 1), 'ds')).toEqual([1]);
    });
  }

  it('a spill write that fails: 503, error line and counter, and spilled again once the disk works', async () => {
    const topic = freshTopic('fb-eio');
    const { g, admin } = await start(topic);
    await cluster.broker.proxy!.cut('refuse');
    expect((await send(g.port, 'io', 0)).status).toBe(202);

    await fx.layer!.fail('write', '.log', 'EIO');
    const failed = await send(g.port, 'io', 1);
    expect(failed.status).toBe(503);
    await waitFor('write error line', () => spillErrors(g, 'write').length > 0, 10_000);
    expect(spillErrors(g, 'write')[0]?.msg).toMatch(/^kafka spill: EIO: write or fdatasync of a segment failed.*\(partition \d\)/);
    await waitForSample(admin, 'metricstream_log_errors_total{kind="write"}', 1);

    await fx.layer!.heal();
    expect((await send(g.port, 'io', 2)).status).toBe(202);
    await waitFor('write recovery line', () => g.logs.some((l) => l.msg === 'kafka spill: log write works again'), 10_000);

    await cluster.broker.proxy!.restore();
    await waitFor('the spill replayed and freed', spillGone(path.join(fx.layer!.mount, 'data')), 60_000);
    expect(await g.stop()).toBe(0);
    fx.gateway = undefined;
    expect(valuesOf(await consumeAll(cluster.broker.bootstrap, topic, 2), 'io')).toEqual([0, 2]);
  });
});
