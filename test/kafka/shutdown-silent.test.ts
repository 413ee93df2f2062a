/**
 * SIGTERM while the broker is silent (the proxy blackholes every byte): the gateway must
 * keep its shutdown promise. --flush-timeout bounds the whole drain, so the process exits
 * within it plus a little; every request waiting on Kafka is answered (504: sent, outcome
 * unknown; 503: never sent), none hangs; and the count printed on stderr is the true
 * number of records not delivered: exactly the requests that reached the gateway and were
 * not answered 200. With --fallback file the records waiting on Kafka are spilled at the
 * deadline instead (202), and the next start replays them.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { consumeAll, freshTopic } from './helpers.ts';
import { range, readyz, send, spillGone, useKafkaCluster, valuesOf, waitFor, type Outcome } from './gateway-support.ts';

// One mock cluster for this file; fails (never skips) when kcat is missing.
const cluster = useKafkaCluster();

const FLUSH_TIMEOUT_S = 3;
/** The product's bound: --flush-timeout plus the give-up grace and process teardown. */
const EXIT_BOUND_MS = (FLUSH_TIMEOUT_S + 5) * 1000;

/**
 * SIGTERM and the time to exit. Waits past the bound (so a failure says how far), then
 * kills what is still running.
 */
async function sigterm(g: GatewayProcess): Promise<{ code: number | string; exitMs: number }> {
  const signalled = Date.now();
  const code = await Promise.race([g.stop('SIGTERM'), new Promise<string>((r) => setTimeout(() => r('still running'), EXIT_BOUND_MS + 15_000))]);
  const exitMs = Date.now() - signalled;
  if (code === 'still running') await g.stop('SIGKILL');
  return { code, exitMs };
}

describe('gateway --mode kafka, SIGTERM with a silent broker', () => {
  it('exits within --flush-timeout plus a little, answers every request, and reports the true undelivered count', async () => {
    const topic = freshTopic('gw-silent');
    // A produce request timeout far beyond the flush timeout: only the shutdown deadline
    // can end the wait (as with the default 10 s timeout and 3 retries, ~90 s per send).
    const g = await cluster.gateway(topic, ['--flush-timeout', `${FLUSH_TIMEOUT_S}s`, '--kafka-timeout', '60s']);
    await waitFor('ready', async () => (await readyz(g.port)) === 200);
    const warm = await send(g.port, 'silent-warm', 0);
    expect(warm.status).toBe(200);

    await cluster.broker.proxy!.cut('blackhole');
    const answered: Outcome[] = [];
    const requests = Promise.all(range(0, 30).map((i) => send(g.port, `silent-${i}`, 0, 90_000).then((o) => (answered.push(o), o))));
    // Let them reach the owner: one append hangs on the silent broker, the rest wait behind it.
    await new Promise((r) => setTimeout(r, 1500));
    expect(answered).toEqual([]);

    const { code, exitMs } = await sigterm(g);
    const outcomes = await requests;

    expect(code).toBe(0);
    expect(exitMs, `exit took ${exitMs} ms with --flush-timeout ${FLUSH_TIMEOUT_S}s`).toBeLessThan(EXIT_BOUND_MS);
    // every request got an HTTP answer; none hung, none was cut off
    for (const o of outcomes) expect([503, 504], JSON.stringify(o)).toContain(o.status);
    const unknown = outcomes.filter((o) => o.status === 504);
    // the append in flight at the deadline: sent to the silent broker, outcome unknown
    expect(unknown.length).toBeGreaterThan(0);
    for (const o of unknown) expect(o.body.error).toMatch(/may have been stored/);
    // a request refused at the door while shutting down never became a record
    const records = outcomes.filter((o) => !/shutting down/.test(String(o.body.error)));

    const line = g.stderr.find((l) => /still undelivered at shutdown/.test(l));
    expect(line, g.stderr.join('\n')).toBeDefined();
    const reported = Number(/(\d+) record\(s\) still undelivered at shutdown \(kafka\)/.exec(line!)![1]);
    expect(reported).toBe(records.length);
    expect(line).toMatch(new RegExp(`${unknown.length} sent without acknowledgement`));
    const done = g.logs.find((l) => l.msg === 'shutdown complete');
    expect(done?.undelivered).toBe(records.length);
  }, 120_000);

  it('--fallback file: at the deadline the waiting records are spilled (202), counted as kept in the spill, and replayed at the next start', async () => {
    const topic = freshTopic('gw-silent-fb');
    const dataDir = await tempDir('metricstream-silent-');
    const flags = ['--fallback', 'file', '--data-dir', dataDir, '--flush-timeout', `${FLUSH_TIMEOUT_S}s`, '--kafka-timeout', '60s'];
    const g = await cluster.gateway(topic, flags);
    await waitFor('ready', async () => (await readyz(g.port)) === 200);
    expect((await send(g.port, 'fb-silent-warm', 0)).status).toBe(200);

    await cluster.broker.proxy!.cut('blackhole');
    const requests = Promise.all(range(0, 30).map((i) => send(g.port, `fb-silent-${i}`, 0, 90_000)));
    await new Promise((r) => setTimeout(r, 1500));
    const { code, exitMs } = await sigterm(g);
    const outcomes = await requests;
    expect(code).toBe(0);
    expect(exitMs, `exit took ${exitMs} ms with --flush-timeout ${FLUSH_TIMEOUT_S}s`).toBeLessThan(EXIT_BOUND_MS);

    // spilled, or refused at the door while shutting down; never left hanging, never 504
    for (const o of outcomes) {
      if (o.status === 202) expect(o.body.spilled).toBe(true);
      else expect(o.body.error, JSON.stringify(o)).toMatch(/shutting down/);
    }
    const spilled = outcomes.filter((o) => o.status === 202);
    expect(spilled.length).toBeGreaterThan(0);
    const line = g.stderr.find((l) => /still undelivered at shutdown/.test(l));
    expect(line, g.stderr.join('\n')).toBeDefined();
    expect(line).toMatch(new RegExp(`^metricstream: ${spilled.length} record\\(s\\) still undelivered at shutdown \\(kafka\\): 0 sent .*, 0 not stored .*, ${spilled.length} kept in the local spill`));

    // the next start (broker back) replays them: each one reaches the topic
    await cluster.broker.proxy!.restore();
    const g2 = await cluster.gateway(topic, flags);
    await waitFor('the spill freed', spillGone(dataDir), 30_000);
    const read = await consumeAll(cluster.broker.bootstrap, topic, spilled.length + 1);
    for (const o of spilled) expect(valuesOf(read, o.client), o.client).toContain(0);
    expect(await g2.stop()).toBe(0);
  }, 120_000);

  it('a request body still arriving at the deadline does not hold the exit past the bound', async () => {
    const topic = freshTopic('gw-slow-body');
    const g = await cluster.gateway(topic, ['--flush-timeout', `${FLUSH_TIMEOUT_S}s`, '--body-timeout', '120s']);
    await waitFor('ready', async () => (await readyz(g.port)) === 200);
    const socket = net.connect(g.port, '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write('POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: slow\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"metr');
    await new Promise((r) => setTimeout(r, 300));
    const { code, exitMs } = await sigterm(g);
    expect(code).toBe(0);
    expect(exitMs, `exit took ${exitMs} ms with --flush-timeout ${FLUSH_TIMEOUT_S}s`).toBeLessThan(EXIT_BOUND_MS);
    await closed; // the half-sent request's connection is closed, not left open
  }, 60_000);
});
