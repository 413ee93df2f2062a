/**
 * Kafka mode, a member stopped (SIGSTOP) past its session timeout while the gateway keeps
 * producing: the other member takes every partition over; resumed (SIGCONT), the stopped
 * one gives up whatever it held, rejoins with a new kafkajs consumer, and VictoriaMetrics
 * still holds every acknowledged sample.
 */
import { describe, it } from 'vitest';
import { freshTopic } from '../kafka/helpers.ts';
import { waitFor } from './helpers.ts';
import { useKafkaSinkGroup } from './sink-fixture.ts';
import { acknowledged, expectAllStored, missingCount, startSampleLoad, storedSeqs } from './sink-support.ts';

const g = useKafkaSinkGroup();

describe('Kafka consumer group → remote_write → VictoriaMetrics: SIGSTOP', () => {
  it('a member stopped past its session and resumed gives its batch up and rejoins; nothing missing', async () => {
    const topic = freshTopic('downstream-stop');
    const gateway = (g.gateway = await g.cluster.gateway(topic));
    const t0 = Date.now() - 5 * 3_600_000;
    const a = g.member(topic, 'kvm-stop');
    const b = g.member(topic, 'kvm-stop');
    const logs = () => `member a:\n${a.describe()}\nmember b:\n${b.describe()}`;
    await waitFor('both members assigned', () => (a.assigned() ?? []).length > 0 && (b.assigned() ?? []).length > 0 &&
      [...a.assigned()!, ...b.assigned()!].sort().join(',') === '0,1,2,3', 45_000, logs);
    const load = startSampleLoad(gateway.port, 'ks', 4, t0, 5, 'kafka_stop_test');
    await waitFor('samples in the store', async () => (await g.storedCount('kafka_stop_test', t0)) > 100, 30_000);
    a.kill('SIGSTOP');
    await waitFor('the other member to take all 4 partitions', () => (b.assigned() ?? []).length === 4, 45_000, logs);
    a.kill('SIGCONT');
    await waitFor('the resumed member to rejoin', () => a.logs.filter((l) => Array.isArray(l.partitions)).length >= 2, 45_000, logs);
    const sent = await load.stop();
    const acked = acknowledged(sent);
    await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await g.vm.export('kafka_stop_test'), t0)) === 0, 45_000, logs);
    expectAllStored(acked, await g.vm.export('kafka_stop_test'), t0);
  });

});
