/**
 * `--fallback file` against a silent broker (the proxy blackholes every byte, as in a
 * network partition): no connection error, only timeouts. The requests waiting on the
 * producer get an answer once its retry budget runs out (the records are then spilled),
 * none hangs, and after the broker is back every client's records are in the topic in
 * the order sent. A file of its own: the producer's timeouts make it the slowest test.
 */
import { describe, expect, it } from 'vitest';
import { tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { consumeAll, freshTopic } from './helpers.ts';
import {
  range,
  spillGone,
  startLoad,
  useKafkaCluster,
  valuesOf,
  waitFor,
} from './gateway-support.ts';

// One mock cluster for this file; fails (never skips) when kcat is missing.
const cluster = useKafkaCluster();

function fallbackGateway(topic: string, dataDir: string): Promise<GatewayProcess> {
  return cluster.gateway(topic, ['--fallback', 'file', '--data-dir', dataDir, '--kafka-timeout', '2s', '--kafka-retries', '1']);
}

describe('gateway --mode kafka --fallback file, broker silent', () => {
  it('a silent broker (blackhole): the requests waiting on it are spilled once the producer gives up, none hangs', async () => {
    const topic = freshTopic('fb-hole');
    const dataDir = await tempDir('metricstream-fallback-');
    const g = await fallbackGateway(topic, dataDir);
    const load = startLoad(g.port, 'fb-hole', 4, 5);
    await waitFor('200s before the cut', () => load.outcomes.filter((o) => o.status === 200).length >= 20);
    await cluster.broker.proxy!.cut('blackhole');
    const cutAt = load.outcomes.length;
    // the producer's own retry budget (request timeouts, retries) runs out first: no deadline here but the test's
    await waitFor('spilled answers', () => load.outcomes.slice(cutAt).filter((o) => o.status === 202).length >= 20, 75_000, { everyMs: 200 });
    await cluster.broker.proxy!.restore();
    await waitFor('the spill freed', spillGone(dataDir), 30_000);
    const freedAt = load.outcomes.length;
    await waitFor('200s after the replay', () => load.outcomes.slice(freedAt).filter((o) => o.status === 200).length >= 8);
    const outcomes = await load.stop();

    for (const o of outcomes) expect([200, 202], JSON.stringify(o)).toContain(o.status);
    const read = await consumeAll(cluster.broker.bootstrap, topic, outcomes.length);
    for (let c = 0; c < 4; c++) {
      const client = `fb-hole-${c}`;
      const values = valuesOf(read, client);
      expect(values.filter((v, i) => values.indexOf(v) === i)).toEqual(range(0, outcomes.filter((o) => o.client === client).length));
    }
    expect(await g.stop()).toBe(0);
  }, 120_000);
});
