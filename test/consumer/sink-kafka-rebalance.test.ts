/**
 * Kafka mode, the store down: a member retrying against it keeps its group membership
 * through backoffs of 5-10 s, and when a second member joins it gives its batch up and hands
 * that member partitions, as the same member (a rejoin with a new consumer would start a
 * rebalance of its own, and two retrying members then kept the group rebalancing); once the
 * store is back, VictoriaMetrics holds every acknowledged sample. (The log-mode counterpart
 * is in sink-victoria.test.ts. The librdkafka mock does not expire a member whose
 * heartbeats stop for longer than its session while it fetches nothing, so the heartbeats
 * during a backoff are checked in sinks.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { freshTopic } from '../kafka/helpers.ts';
import { waitFor } from './helpers.ts';
import { useKafkaSinkGroup } from './sink-fixture.ts';
import { acknowledged, expectAllStored, metricSum, missingCount, startSampleLoad, storedSeqs } from './sink-support.ts';

const g = useKafkaSinkGroup();

describe('Kafka consumer group → remote_write → VictoriaMetrics: the store down', () => {
  it('a retrying member keeps its membership and hands a newcomer partitions without leaving the group; nothing missing', async () => {
    const topic = freshTopic('downstream-retry');
    const gateway = (g.gateway = await g.cluster.gateway(topic));
    const t0 = Date.now() - 6 * 3_600_000;
    const a = g.member(topic, 'kvm-retry');
    await waitFor('the first member assigned all 4 partitions', () => (a.assigned() ?? []).length === 4, 45_000, () => a.describe());
    const generation = a.generation();
    await g.vm.stop();
    // A slow load: what piles up while the store is down (40 s or more) is delivered
    // afterwards in the mock's small batches, each a request and a commit; at 5 ms pauses
    // the backlog took a loaded CI machine over a minute.
    const load = startSampleLoad(gateway.port, 'kr', 4, t0, 50, 'kafka_retry_test');
    // Backoff doubles from 100 ms to 10 s (with jitter, half to all of it): by the 10th error
    // the member has slept through backoffs of 5-10 s (its session timeout is 6 s).
    const errors = async () => metricSum(await a.metrics(), 'metricstream_consumer_sink_errors_total', 'kind="connection"');
    await waitFor('the member to retry through backoffs longer than its session', async () => (await errors()) >= 10, 120_000, () => a.describe());
    expect(metricSum(await a.metrics(), 'metricstream_consumer_sink_retrying')).toBe(1);
    // Still the same member of the same generation: its retries kept the membership.
    expect(a.generation()).toBe(generation);
    expect(a.logged(/given up|rejoining/)).toEqual([]);

    const b = g.member(topic, 'kvm-retry');
    const logs = () => `member a:\n${a.describe()}\nmember b:\n${b.describe()}`;
    await waitFor('the newcomer to get partitions while the store is still down', () => {
      const all = [...(a.assigned() ?? []), ...(b.assigned() ?? [])].sort();
      return all.join(',') === '0,1,2,3' && (a.assigned() ?? []).length > 0 && (b.assigned() ?? []).length > 0;
    }, 60_000, logs);
    await g.vm.start();
    const acked = acknowledged(await load.stop());
    try {
      await waitFor('every acknowledged sample in VictoriaMetrics', async () =>
        missingCount(acked, storedSeqs(await g.vm.export('kafka_retry_test'), t0)) === 0, 90_000, logs);
    } catch (err) {
      // Where they went: each member's lag and deliveries by partition, and what is missing.
      const stored = storedSeqs(await g.vm.export('kafka_retry_test'), t0);
      const missing = [...acked].map(([client, seqs]) => `${client}: ${[...seqs].filter((q) => !stored.get(client)?.has(q)).join(',')}`);
      const by = async (m: typeof a) => (await m.metrics()).split('\n').filter((l) => /^metricstream_consumer_(lag_records|records_delivered_total|batches_abandoned_total)/.test(l)).join('\n');
      throw new Error(`${(err as Error).message}\nmissing: ${missing.join(' | ')}\nmember a:\n${await by(a)}\nmember b:\n${await by(b)}`);
    }
    expectAllStored(acked, await g.vm.export('kafka_retry_test'), t0);
    // Every batch given up was given up for the rebalance, as the same member.
    expect(a.logged(/given up without committing/).length).toBeGreaterThan(0);
    for (const m of [a, b]) expect(m.logged(/given up without committing.*; rejoining$/)).toEqual([]);
  });
});
