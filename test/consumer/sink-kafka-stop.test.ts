/**
 * Kafka mode, a member stopped (SIGSTOP) past its session timeout while the gateway keeps
 * producing: the other member takes every partition over; resumed (SIGCONT), the stopped
 * one gives up whatever it held, rejoins with a new kafkajs consumer, and VictoriaMetrics
 * still holds every acknowledged sample.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useKafkaCluster } from '../kafka/gateway-support.ts';
import { freshTopic } from '../kafka/helpers.ts';
import { tempDir } from '../support/gateway-process.ts';
import type { GatewayProcess } from '../support/gateway-process.ts';
import { startVictoriaMetrics } from '../support/stores.ts';
import type { VictoriaMetrics } from '../support/stores.ts';
import { removeDir, waitFor } from './helpers.ts';
import { acknowledged, expectAllStored, missingCount, SinkConsumerProcess, startSampleLoad, storedSeqs } from './sink-support.ts';

const cluster = useKafkaCluster();
let root: string;
let vm: VictoriaMetrics;
const members: SinkConsumerProcess[] = [];
let gateway: GatewayProcess | null = null;

beforeAll(async () => {
  root = await tempDir('metricstream-kvm-');
  vm = await startVictoriaMetrics(root);
});
afterAll(async () => {
  await vm?.destroy();
  await removeDir(root);
});
afterEach(async () => {
  for (const m of members.splice(0)) {
    if (m.alive()) {
      m.kill('SIGCONT');
      m.kill('SIGKILL');
    }
    await m.exited;
  }
  await gateway?.stop('SIGKILL');
  gateway = null;
});

function member(topic: string, group: string, url = vm.writeUrl): SinkConsumerProcess {
  const m = new SinkConsumerProcess([
    '--mode', 'kafka', '--brokers', cluster.broker.bootstrap, '--topic', topic, '--group', group, '--from-beginning',
    '--session-timeout', '3s', '--sink', 'remote-write', '--sink-url', url, '--admin-port', '0',
  ]);
  members.push(m);
  return m;
}

async function storedCount(metric: string, t0: number): Promise<number> {
  let n = 0;
  for (const s of storedSeqs(await vm.export(metric), t0).values()) n += s.size;
  return n;
}

describe('Kafka consumer group → remote_write → VictoriaMetrics: SIGSTOP', () => {
  it('a member stopped past its session and resumed gives its batch up and rejoins; nothing missing', async () => {
    const topic = freshTopic('downstream-stop');
    gateway = await cluster.gateway(topic);
    const t0 = Date.now() - 5 * 3_600_000;
    const a = member(topic, 'kvm-stop');
    const b = member(topic, 'kvm-stop');
    await waitFor('both members assigned', () => (a.assigned() ?? []).length > 0 && (b.assigned() ?? []).length > 0 &&
      [...a.assigned()!, ...b.assigned()!].sort().join(',') === '0,1,2,3', 45_000);
    const load = startSampleLoad(gateway.port, 'ks', 4, t0, 5, 'kafka_stop_test');
    await waitFor('samples in the store', async () => (await storedCount('kafka_stop_test', t0)) > 100, 30_000);
    a.kill('SIGSTOP');
    await waitFor('the other member to take all 4 partitions', () => (b.assigned() ?? []).length === 4, 45_000);
    a.kill('SIGCONT');
    await waitFor('the resumed member to rejoin', () => a.logs.filter((l) => Array.isArray(l.partitions)).length >= 2, 45_000);
    const sent = await load.stop();
    const acked = acknowledged(sent);
    await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await vm.export('kafka_stop_test'), t0)) === 0, 45_000);
    expectAllStored(acked, await vm.export('kafka_stop_test'), t0);
  });

});
