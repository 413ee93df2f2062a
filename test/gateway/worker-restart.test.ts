/**
 * A worker that dies anyway (a bug, out of memory past --worker-heap) is restarted with backoff; the owner
 * drains and then releases its old ring; counters summed over workers never go
 * backwards; the death is logged and counted. The worker is killed through the test-only
 * hook METRICSTREAM_TEST_HOOKS=1 (POST /__test/crash throws outside any handler, POST
 * /__test/leak allocates until the heap limit, POST /__test/block spins for 3 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPortOf, consumeAll, postMetrics, startGatewayWithTestHooks, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { waitFor } from '../support/wait-for.ts';
import { scrapeAdmin } from '../support/admin-scrape.ts';

let gateway: GatewayProcess;
let dataDir: string;
let adminPort: number;

beforeAll(async () => {
  dataDir = await tempDir();
  gateway = await startGatewayWithTestHooks(['--workers', '2', '--data-dir', dataDir, '--admin-port', '0', '--worker-heap', '96mb']);
  adminPort = adminPortOf(gateway);
});
afterAll(async () => {
  if (gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

/** A fresh collection of /metrics (collections are cached for a second). */
async function scrape(): Promise<Map<string, number>> {
  await new Promise((r) => setTimeout(r, 1100));
  const text = await scrapeAdmin(adminPort);
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Sum of every series of `name` (all label values). */
function total(values: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [series, v] of values) if (series === name || series.startsWith(`${name}{`)) sum += v;
  return sum;
}

const logged = (text: string) => gateway.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes(text));

/** Kills one worker: the crash request lands on whichever worker the kernel picks. */
async function crashOne(): Promise<void> {
  const before = logged('exited unexpectedly').length;
  await fetch(`http://127.0.0.1:${gateway.port}/__test/crash`, { method: 'POST' }).catch(() => undefined);
  await waitFor('a worker death', () => logged('exited unexpectedly').length === before + 1, 15_000);
}

describe('a worker that dies is restarted, and nothing goes backwards', () => {
  let accepted = 0;
  const send = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const res = await postMetrics(gateway.port, `client-${i % 7}`, { metrics: [{ name: 'm', value: i }] });
      if (res.status === 200) accepted++;
    }
  };

  it('restarts it, releases its ring, keeps every counter monotonic and counts the restart', async () => {
    await send(40);
    const before = await scrape();
    expect(total(before, 'metricstream_worker_restarts_total')).toBe(0);
    expect(before.get('metricstream_owner_rings')).toBe(2);

    await crashOne();
    await waitFor('the replacement worker', () => logged('worker up').length === 3, 15_000);
    await waitFor('the old ring to be released', () => logged("ring drained and released").length === 1, 15_000);
    const death = logged('exited unexpectedly')[0];
    expect(death.restartInMs).toBe(100);

    await send(40);
    const after = await scrape();
    expect(after.get('metricstream_worker_restarts_total')).toBe(1);
    expect(after.get('metricstream_owner_rings')).toBe(2);
    for (const name of ['metricstream_ring_records_total', 'metricstream_http_requests_total', 'metricstream_metrics_accepted_total', 'metricstream_http_request_duration_seconds_count']) {
      // Exactly the 40 new requests more: the dead worker's counts were kept, not lost or reset.
      expect([name, total(after, name)]).toEqual([name, total(before, name) + 40]);
    }
  });

  it('backs off when a worker keeps dying', async () => {
    await crashOne();
    await waitFor('the replacement worker', () => logged('worker up').length === 4, 15_000);
    await crashOne();
    await waitFor('the replacement worker', () => logged('worker up').length === 5, 15_000);
    const delays = logged('exited unexpectedly').map((l) => l.restartInMs as number);
    // Deaths of one slot double the delay; the other slot starts at 100 ms.
    expect(delays.length).toBe(3);
    expect(delays.every((d) => [100, 200, 400].includes(d))).toBe(true);
    expect(delays.some((d) => d > 100) || new Set(logged('exited unexpectedly').map((l) => l.worker)).size > 1).toBe(true);
    await send(10);
    expect((await scrape()).get('metricstream_owner_rings')).toBe(2);
  });

  it('a bug in the request handler is answered 500 and the worker lives on', async () => {
    const deaths = logged('exited unexpectedly').length;
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`http://127.0.0.1:${gateway.port}/__test/throw`, { method: 'POST' });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'internal error' });
    }
    await waitFor('the rate-limited warning', () => logged('request handler failed').length > 0, 15_000);
    expect(logged('request handler failed')[0].detail).toMatch(/bug simulated through the test hook/);
    expect(logged('exited unexpectedly').length).toBe(deaths);
    await send(10);
  });

  it('a worker spinning in JavaScript still reports its heap: V8 interrupts it to read it', async () => {
    let spinEnded = false;
    const blocked = fetch(`http://127.0.0.1:${gateway.port}/__test/block`, { method: 'POST' }).finally(() => (spinEnded = true));
    await new Promise((r) => setTimeout(r, 200)); // the request reached a worker, which now spins
    const during = await scrape();
    expect(spinEnded).toBe(false);
    expect([...during.keys()].filter((k) => k.startsWith('metricstream_worker_heap_used_bytes{'))).toHaveLength(2);
    expect((await blocked).status).toBe(500);
  });

  it('a worker that runs past --worker-heap dies alone and is restarted; the gateway keeps serving', async () => {
    const deaths = logged('exited unexpectedly').length;
    const ups = logged('worker up').length;
    await fetch(`http://127.0.0.1:${gateway.port}/__test/leak`, { method: 'POST' }).catch(() => undefined);
    await waitFor('the leaking worker to die', () => logged('exited unexpectedly').length === deaths + 1, 30_000);
    expect(logged('worker failed').at(-1)!.err).toMatchObject({ code: 'ERR_WORKER_OUT_OF_MEMORY' });
    await waitFor('its replacement', () => logged('worker up').length === ups + 1, 15_000);
    await send(10);
    expect((await scrape()).get('metricstream_owner_rings')).toBe(2);
  });

  it('every record answered 200 is in the log', async () => {
    expect(await gateway.stop()).toBe(0);
    expect(await consumeAll(dataDir)).toHaveLength(accepted);
    expect(accepted).toBe(110);
  });
});
