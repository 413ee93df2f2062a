/**
 * End to end into a real VictoriaMetrics: the gateway (child process) writes the local
 * log, a consumer group of sink-mode CLI processes delivers it over remote_write 1.0, and
 * VictoriaMetrics' export API must hold every sample the gateway acknowledged:
 * - with a member killed (-9) mid-stream (the other takes its partitions over);
 * - with a member stopped (SIGSTOP) past its session timeout and resumed: the other takes
 *   over, the resumed one gives its batch up instead of committing or sending on;
 * - with the store stopped mid-run and started again: nothing lost, lag back to 0;
 * - with a member joining while the store is down: the retrying member gives the newcomer's
 *   partitions up at once instead of holding them until the store is back.
 */
import { describe, expect, it } from 'vitest';
import { startGateway, tempDir } from '../support/gateway-process.ts';
import { waitFor } from './helpers.ts';
import { useVictoriaSinkGroup } from './sink-fixture.ts';
import { acknowledged, expectAllStored, metricSum, missingCount, SinkConsumerProcess, startSampleLoad, storedSeqs } from './sink-support.ts';

const g = useVictoriaSinkGroup();
let dir: string;

async function setup(name: string): Promise<void> {
  dir = await tempDir(`metricstream-${name}-`);
  g.gateway = await startGateway(['--data-dir', dir, '--workers', '1']);
}

function member(group: string, ...extra: string[]): SinkConsumerProcess {
  return g.spawn([
    '--data-dir', dir, '--group', group, '--from-beginning', '--session-timeout', '1500ms',
    '--sink', 'remote-write', '--sink-url', g.vm.writeUrl, '--admin-port', '0', ...extra,
  ]);
}

async function waitForSplit(ms: SinkConsumerProcess[]): Promise<void> {
  await waitFor('the group to split the 4 partitions', () => {
    const gens = ms.map((m) => m.generation());
    if (gens[0] === 0 || gens.some((g) => g !== gens[0])) return false;
    return ms.flatMap((m) => m.assigned() ?? []).sort().join(',') === '0,1,2,3';
  }, 30_000);
}


describe('consumer group → remote_write → VictoriaMetrics (local log)', () => {
  it('delivers every acknowledged sample; kill -9 of one member mid-stream loses nothing', async () => {
    await setup('vm-kill');
    const t0 = Date.now() - 3_600_000;
    const a = member('vm-writers');
    const b = member('vm-writers');
    await waitForSplit([a, b]);
    const load = startSampleLoad(g.gateway!.port, 'kill', 6, t0);
    await waitFor('samples in the store', async () => (await g.storedCount('load_test', t0)) > 200, 30_000);
    a.kill('SIGKILL');
    await waitFor('the survivor to take all 4 partitions', () => (b.assigned() ?? []).length === 4, 30_000);
    await waitFor('more samples after the takeover', async () => (await g.storedCount('load_test', t0)) > 600, 30_000);
    const sent = await load.stop();
    const acked = acknowledged(sent);
    expect(sent.filter((s) => s.status !== 200)).toEqual([]);
    await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await g.vm.export('load_test'), t0)) === 0, 30_000);
    expectAllStored(acked, await g.vm.export('load_test'), t0);
    expect(metricSum(await b.metrics(), 'metricstream_consumer_records_delivered_total')).toBeGreaterThan(0);
  });

  it('a member stopped past its session timeout loses its partitions; resumed, it drops them without committing and rejoins; nothing missing', async () => {
    await setup('vm-stop');
    const t0 = Date.now() - 2 * 3_600_000;
    const a = member('vm-stoppers');
    const b = member('vm-stoppers');
    await waitForSplit([a, b]);
    const load = startSampleLoad(g.gateway!.port, 'stop', 4, t0, 5, 'stop_test');
    await waitFor('samples in the store', async () => (await g.storedCount('stop_test', t0)) > 100, 30_000);
    const genBefore = b.generation();
    a.kill('SIGSTOP');
    await waitFor('the other member to take all 4 partitions', () => (b.assigned() ?? []).length === 4 && b.generation() > genBefore, 30_000);
    const genTakeover = b.generation();
    const deliveredByB = metricSum(await b.metrics(), 'metricstream_consumer_records_delivered_total');
    await waitFor('the other member to deliver the stopped one\'s partitions', async () =>
      metricSum(await b.metrics(), 'metricstream_consumer_records_delivered_total') > deliveredByB + 50, 30_000);
    a.kill('SIGCONT');
    // Resumed: it finds its lease ran out, drops its partitions without committing, rejoins.
    // Stopped while a batch was in flight, it may learn it from that batch instead: its
    // commit is refused as of a stale generation (nothing committed), then it rejoins.
    try {
      await waitFor('the resumed member to notice its lapse', () => a.logged(/lease ran out|given up without committing|commit of offset \d+ refused: stale generation/).length > 0, 45_000);
      await waitFor('the group to split again', () => a.generation() > genTakeover && a.generation() === b.generation(), 45_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nresumed member: ${a.describe()}\nother member: ${b.describe()}`);
    }
    const sent = await load.stop();
    const acked = acknowledged(sent);
    await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await g.vm.export('stop_test'), t0)) === 0, 30_000);
    expectAllStored(acked, await g.vm.export('stop_test'), t0);
  });

  it('the store goes down mid-run and comes back: nothing lost, lag back to 0', async () => {
    await setup('vm-down');
    const t0 = Date.now() - 3 * 3_600_000;
    const a = member('vm-down');
    await waitForSplit([a]);
    const load = startSampleLoad(g.gateway!.port, 'down', 4, t0, 5, 'down_test');
    await waitFor('samples in the store', async () => (await g.storedCount('down_test', t0)) > 100, 30_000);
    await g.vm.stop();
    await waitFor('the consumer to retry (connection errors counted)', async () =>
      metricSum(await a.metrics(), 'metricstream_consumer_sink_errors_total', 'kind="connection"') > 0, 30_000);
    await waitFor('lag to build up while the store is down', async () => metricSum(await a.metrics(), 'metricstream_consumer_lag_records') > 20, 30_000);
    expect(metricSum(await a.metrics(), 'metricstream_consumer_sink_retrying')).toBe(1);
    await g.vm.start();
    const sent = await load.stop();
    const acked = acknowledged(sent);
    await waitFor('lag back to 0', async () => metricSum(await a.metrics(), 'metricstream_consumer_lag_records') === 0, 30_000);
    await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await g.vm.export('down_test'), t0)) === 0, 30_000);
    expectAllStored(acked, await g.vm.export('down_test'), t0);
    expect(a.logged(/the store accepts writes again/).length).toBeGreaterThan(0);
    expect(metricSum(await a.metrics(), 'metricstream_consumer_dead_letter_records_total')).toBe(0);
  });

  it('a member retrying against a down store gives up the partitions a new member is assigned, at once', async () => {
    await setup('vm-rebalance');
    const t0 = Date.now() - 4 * 3_600_000;
    const a = member('vm-rebalance');
    await waitForSplit([a]);
    await g.vm.stop();
    const load = startSampleLoad(g.gateway!.port, 'rb', 4, t0, 5, 'rebalance_test');
    await waitFor('the first member to retry', async () => metricSum(await a.metrics(), 'metricstream_consumer_sink_retrying') === 1, 30_000);
    // The store is still down: the newcomer gets its partitions only because the first
    // member stops sending them (its retry is aborted) and releases them.
    const b = member('vm-rebalance');
    await waitForSplit([a, b]);
    // The abandonment is counted as the retry unwinds, which may be just after the split.
    await waitFor('the first member to count its abandoned batch', async () =>
      metricSum(await a.metrics(), 'metricstream_consumer_batches_abandoned_total') > 0, 30_000);
    await g.vm.start();
    const acked = acknowledged(await load.stop());
    await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await g.vm.export('rebalance_test'), t0)) === 0, 30_000);
    expectAllStored(acked, await g.vm.export('rebalance_test'), t0);
  });
});
