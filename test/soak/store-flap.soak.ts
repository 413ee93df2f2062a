/**
 * Store-flap soak: a consumer group of sink-mode CLI processes delivers the gateway's log
 * over remote_write into a real VictoriaMetrics that is stopped and started again and
 * again, while load keeps coming and, now and then, a member is killed (seeded PRNG). The
 * suite stops the store once and kills a member once, in separate tests; this looks for a
 * sample acknowledged by the gateway that never reaches the store, a member that stops
 * retrying, and a group whose lag does not come back to 0.
 *
 *   npm run soak:store-flap                             # 10 outages, seed 1
 *   SOAK_OUTAGES=30 SOAK_SEED=2 npm run soak:store-flap
 *
 * The store is stopped with SIGTERM: VictoriaMetrics flushes what it acknowledged on a
 * clean shutdown, so a sample missing afterwards is the consumers' doing, not the store's.
 */
import { expect, it } from 'vitest';
import { startGateway, tempDir } from '../support/gateway-process.ts';
import { prng } from '../support/prng.ts';
import { waitFor } from '../consumer/helpers.ts';
import { useVictoriaSinkGroup } from '../consumer/sink-fixture.ts';
import { acknowledged, expectAllStored, metricSum, missingCount, startSampleLoad, storedSeqs, type SinkConsumerProcess } from '../consumer/sink-support.ts';

const OUTAGES = Number(process.env.SOAK_OUTAGES ?? 10);
const SEED = Number(process.env.SOAK_SEED ?? 1);

const g = useVictoriaSinkGroup();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`${OUTAGES} store outages under load, members killed now and then (seed ${SEED}): every acknowledged sample in the store, lag back to 0`, { timeout: OUTAGES * 30_000 + 180_000 }, async () => {
  const random = prng(SEED);
  const dir = await tempDir('metricstream-store-flap-');
  g.gateway = await startGateway(['--data-dir', dir, '--workers', '1']);
  const t0 = Date.now() - 3_600_000;
  const member = (): SinkConsumerProcess =>
    g.spawn(['--data-dir', dir, '--group', 'flap', '--from-beginning', '--session-timeout', '1500ms', '--sink', 'remote-write', '--sink-url', g.vm.writeUrl, '--admin-port', '0']);
  const live = [member(), member()];
  const load = startSampleLoad(g.gateway.port, 'flap', 4, t0, 5, 'flap_test');
  const events: string[] = [];
  for (let i = 0; i < OUTAGES; i++) {
    await sleep(500 + Math.floor(random() * 2500));
    await g.vm.stop();
    const down = 200 + Math.floor(random() * 4000);
    if (random() < 0.3) {
      // A member dies while the store is away: its partitions move to one that is retrying.
      const victim = live.splice(Math.floor(random() * live.length), 1)[0];
      victim.kill('SIGKILL');
      live.push(member());
      events.push(`down ${down} ms, a member killed`);
    } else events.push(`down ${down} ms`);
    await sleep(down);
    await g.vm.start();
  }
  const sent = await load.stop();
  const acked = acknowledged(sent);
  expect(sent.filter((s) => s.status !== 200).length, 'requests the gateway did not answer 200').toBe(0);
  await waitFor('lag back to 0', async () => {
    let lag = 0;
    for (const m of live) lag += metricSum(await m.metrics(), 'metricstream_consumer_lag_records');
    return lag === 0;
  }, 120_000);
  await waitFor('every acknowledged sample in VictoriaMetrics', async () => missingCount(acked, storedSeqs(await g.vm.export('flap_test'), t0)) === 0, 60_000).catch(() => undefined);
  let samples = 0;
  for (const seqs of acked.values()) samples += seqs.size;
  console.log(`${OUTAGES} store outages, seed ${SEED}: ${samples} samples acknowledged by the gateway; ${events.join(', ')}`);
  expectAllStored(acked, await g.vm.export('flap_test'), t0);
});
