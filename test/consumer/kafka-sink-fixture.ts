/**
 * The fixture of the Kafka-mode sink tests: one mock cluster and one VictoriaMetrics per
 * file, consumer-group members (sink-mode CLI processes) and a gateway that are killed
 * after each test, stopped members included (SIGCONT before SIGKILL).
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { useKafkaCluster } from '../kafka/gateway-support.ts';
import { tempDir } from '../support/gateway-process.ts';
import type { GatewayProcess } from '../support/gateway-process.ts';
import { startVictoriaMetrics } from '../support/stores.ts';
import type { VictoriaMetrics } from '../support/stores.ts';
import { removeDir } from './helpers.ts';
import { SinkConsumerProcess, storedSeqs } from './sink-support.ts';

export interface KafkaSinkGroup {
  readonly cluster: ReturnType<typeof useKafkaCluster>;
  /** The store; set in beforeAll. */
  readonly vm: VictoriaMetrics;
  /** The gateway of the running test, killed after it. */
  gateway: GatewayProcess | null;
  /** Starts a member of `group` on `topic` delivering over remote_write to `url` (the store by default). */
  member(topic: string, group: string, url?: string): SinkConsumerProcess;
  /** Samples of `metric` the store holds from t0 on. */
  storedCount(metric: string, t0: number): Promise<number>;
}

/** Registers the hooks; call once at the top of a test file. */
export function useKafkaSinkGroup(): KafkaSinkGroup {
  const cluster = useKafkaCluster();
  const members: SinkConsumerProcess[] = [];
  let root: string;
  let vm: VictoriaMetrics | undefined;
  const group: KafkaSinkGroup = {
    cluster,
    get vm() {
      return vm!;
    },
    gateway: null,
    member(topic, groupId, url = vm!.writeUrl) {
      const m = new SinkConsumerProcess([
        '--mode', 'kafka', '--brokers', cluster.broker.bootstrap, '--topic', topic, '--group', groupId, '--from-beginning',
        '--session-timeout', '3s', '--sink', 'remote-write', '--sink-url', url, '--admin-port', '0',
      ]);
      members.push(m);
      return m;
    },
    async storedCount(metric, t0) {
      let n = 0;
      for (const s of storedSeqs(await vm!.export(metric), t0).values()) n += s.size;
      return n;
    },
  };
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
    await group.gateway?.stop('SIGKILL');
    group.gateway = null;
  });
  return group;
}
