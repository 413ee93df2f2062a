/**
 * The fixture of the sink tests that deliver into a real VictoriaMetrics: one store per
 * file, consumer-group members (sink-mode CLI processes) and a gateway that are killed
 * after each test, stopped members included (SIGCONT before SIGKILL), and the store started
 * again if a test stopped it. The Kafka-mode tests add the mock cluster on top.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { useKafkaCluster } from '../kafka/gateway-support.ts';
import { tempDir } from '../support/gateway-process.ts';
import type { GatewayProcess } from '../support/gateway-process.ts';
import { startVictoriaMetrics } from '../support/stores.ts';
import type { VictoriaMetrics } from '../support/stores.ts';
import { removeDir } from './helpers.ts';
import { SinkConsumerProcess, storedSeqs } from './sink-support.ts';

export interface VictoriaSinkGroup {
  /** The store; set in beforeAll. */
  readonly vm: VictoriaMetrics;
  /** The gateway of the running test, killed after it. */
  gateway: GatewayProcess | null;
  /** Starts a consumer CLI process with `args`, killed after the test. */
  spawn(args: string[]): SinkConsumerProcess;
  /** Samples of `metric` the store holds from t0 on. */
  storedCount(metric: string, t0: number): Promise<number>;
}

export interface KafkaSinkGroup extends VictoriaSinkGroup {
  readonly cluster: ReturnType<typeof useKafkaCluster>;
  /**
   * Starts a member of `group` on `topic` delivering over remote_write to `url` (the store by
   * default). Session timeout 6 s: the mock cluster gives members session timeout − 1 s to
   * rejoin a rebalance, and with 3 s a member on a loaded CI machine missed that window,
   * was dropped, rejoined, and the group never settled.
   */
  member(topic: string, group: string, url?: string): SinkConsumerProcess;
}

/** Registers the hooks; call once at the top of a test file. */
export function useVictoriaSinkGroup(): VictoriaSinkGroup {
  const members: SinkConsumerProcess[] = [];
  let root: string;
  let vm: VictoriaMetrics | undefined;
  const group: VictoriaSinkGroup = {
    get vm() {
      return vm!;
    },
    gateway: null,
    spawn(args) {
      const m = new SinkConsumerProcess(args);
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
    root = await tempDir('metricstream-vm-');
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
    if (vm !== undefined && !vm.running()) await vm.start();
  });
  return group;
}

/** The same with the local mock Kafka cluster; call once at the top of a test file. */
export function useKafkaSinkGroup(): KafkaSinkGroup {
  const cluster = useKafkaCluster();
  const group = useVictoriaSinkGroup() as KafkaSinkGroup;
  Object.defineProperty(group, 'cluster', { value: cluster });
  group.member = (topic, groupId, url = group.vm.writeUrl) =>
    group.spawn([
      '--mode', 'kafka', '--brokers', cluster.broker.bootstrap, '--topic', topic, '--group', groupId, '--from-beginning',
      '--session-timeout', '6s', '--sink', 'remote-write', '--sink-url', url, '--admin-port', '0',
    ]);
  return group;
}
