/**
 * Worker-crash soak: HTTP workers die again and again under load (the test-only hook
 * POST /__test/crash, METRICSTREAM_TEST_HOOKS=1, throws outside any handler: what a bug
 * does), at random moments (seeded PRNG), so that deaths land while records are being
 * claimed, published, committed and answered. The suite's worker-restart test kills a few
 * workers between requests; this looks for a record answered 200 that a dying worker's
 * ring lost, a ring never released, or a gateway that stops restarting its workers.
 *
 *   npm run soak:worker-crash                           # 40 crashes, seed 1
 *   SOAK_CRASHES=200 SOAK_SEED=2 npm run soak:worker-crash
 */
import { expect, it } from 'vitest';
import { unstoredAcks } from '../support/acknowledged.ts';
import { consumeAll, postMetrics, startGatewayWithTestHooks, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { prng } from '../support/prng.ts';
import type { Outcome } from '../support/sequential-load.ts';
import { waitFor } from '../support/wait-for.ts';

const CRASHES = Number(process.env.SOAK_CRASHES ?? 40);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const CLIENTS = 12;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`${CRASHES} worker crashes under load (seed ${SEED}): every 200 is stored, every ring released, workers always come back`, { timeout: CRASHES * 30_000 + 120_000 }, async () => {
  const random = prng(SEED);
  const dataDir = await tempDir('metricstream-worker-crash-');
  const g: GatewayProcess = await startGatewayWithTestHooks(['--workers', '2', '--data-dir', dataDir]);
  const logged = (text: string) => g.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes(text)).length;

  // Clients that keep sending through failed connections (a dying worker drops its sockets).
  const outcomes: Outcome[] = [];
  let loading = true;
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    const client = `crash_${c}`;
    for (let seq = 0; loading; seq++) {
      try {
        const res = await postMetrics(g.port, client, { metrics: [{ name: 'load', value: seq }] });
        outcomes.push({ client, seq, status: res.status, partition: res.body.partition as number, offset: res.body.offset as number });
      } catch {
        outcomes.push({ client, seq, status: 'error' });
        await sleep(20);
      }
    }
  });

  for (let i = 0; i < CRASHES; i++) {
    await sleep(100 + Math.floor(random() * 1500));
    const deaths = logged('exited unexpectedly');
    // The hook needs a live worker to reach: both may be down, waiting out their backoff.
    await waitFor('a live worker', () => logged('worker up') > deaths, 30_000);
    await fetch(`http://127.0.0.1:${g.port}/__test/crash`, { method: 'POST' }).catch(() => undefined);
    await waitFor('a worker death', () => logged('exited unexpectedly') === deaths + 1, 15_000);
    // Now and then the next crash comes before the replacement is up (its backoff grows).
    if (random() < 0.7) await waitFor('the replacement worker', () => logged('worker up') === 2 + deaths + 1, 30_000);
  }
  await waitFor('every worker back', () => logged('worker up') === 2 + CRASHES, 60_000);
  await waitFor('every dead ring drained and released', () => logged("dead worker's ring drained and released") === CRASHES, 30_000);
  const settled = outcomes.length;
  await waitFor('200s after the last crash', () => outcomes.slice(settled).filter((o) => o.status === 200).length >= 100, 30_000);
  loading = false;
  await Promise.all(clients);
  expect(await g.stop()).toBe(0);

  const stored = await consumeAll(dataDir);
  const { checked, missing } = unstoredAcks(outcomes, stored);
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[String(o.status)] = (counts[String(o.status)] ?? 0) + 1;
  console.log(`${CRASHES} worker crashes, seed ${SEED}: answers ${JSON.stringify(counts)}; ${checked} answered 200 and checked, ${stored.length} stored`);
  expect(missing.slice(0, 10), `${missing.length} of ${checked} acknowledged records lost`).toEqual([]);
});
