/**
 * Failures off the acknowledgement path must not be kept in a field nobody reads: a failed
 * write of the commit marks, of an index or of a retention delete gives an error log line
 * and a count on /metrics; the commit marks (without which consumers in other processes
 * stall) also turn /readyz to 503 until a write works again. Failures are injected with
 * the FUSE layer (test/tools/powercut_fs.py: `fail write|unlink SUFFIX ERRNO`).
 *
 * A disk that stops answering (`stall fsync SUFFIX`: the segments' fdatasyncs block until
 * healed; `stall write SUFFIX`: their writes) is reported the same way, and new requests are
 * refused instead of queued behind it.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountPowerCut, usePowerCutFixture } from '../support/powercut-fs.ts';
import { consumeAll, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { scrapeSample, waitForSample } from '../support/admin-scrape.ts';
import { readyz } from '../support/readiness.ts';
import { waitFor } from '../support/wait-for.ts';
import { gaveUpOnDiskLine } from '../../src/log/partitioned-log.ts';

const fx = usePowerCutFixture();

async function start(extra: string[] = []): Promise<{ g: GatewayProcess; admin: number; dataDir: string }> {
  fx.dir = await tempDir('metricstream-logerr-');
  fx.layer = await mountPowerCut(fx.dir);
  const dataDir = path.join(fx.layer.mount, 'data');
  const g = await startGateway(['--workers', '1', '--partitions', '1', '--data-dir', dataDir, '--admin-port', '0', ...extra]);
  fx.gateway = g;
  const listening = g.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('listening on'))!;
  return { g, admin: listening.adminPort as number, dataDir };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until /readyz answers `want` (the gateway samples readiness every 200 ms). */
const waitReadyz = (port: number, want: number) => waitFor(`/readyz ${want}`, async () => (await readyz(port)) === want, 5000, { everyMs: 100 });

/** Until `check` holds: log lines arrive through a pipe, after the answer. */
const eventually = (what: string, check: () => boolean) => waitFor(what, check, 5000, { everyMs: 100 });

function errorsCounted(admin: number, kind: string): Promise<number> {
  return scrapeSample(admin, `metricstream_log_errors_total{kind="${kind}"}`);
}

const errorLines = (g: GatewayProcess, kind: string) => g.logs.filter((l) => l.level === 50 && l.kind === kind);
const body = (seq: number, pad = 0) => ({ metrics: [{ name: 'x', value: seq, tags: pad ? { pad: 'p'.repeat(pad) } : undefined }] });

describe('log failures off the acknowledgement path are reported', () => {
  it('commit marks cannot be written: error line, counter, /readyz 503 until a write works again', async () => {
    const { g, admin, dataDir } = await start();
    expect((await postMetrics(g.port, 'c', body(0))).status).toBe(200);
    expect(await readyz(g.port)).toBe(200);
    await fx.layer!.fail('write', 'commit-marks', 'EIO');
    // The record itself is fdatasync'd (durable): 200 is the truth. Readers elsewhere cannot see it yet.
    expect((await postMetrics(g.port, 'c', body(1))).status).toBe(200);
    await waitReadyz(g.port, 503);
    await eventually('commit-marks error line', () => errorLines(g, 'commit-marks').length > 0);
    expect(errorLines(g, 'commit-marks')[0]?.msg).toMatch(/EIO: writing the commit marks failed/);
    expect(await errorsCounted(admin, 'commit-marks')).toBeGreaterThanOrEqual(1);
    await fx.layer!.heal();
    expect((await postMetrics(g.port, 'c', body(2))).status).toBe(200);
    await waitReadyz(g.port, 200);
    await eventually('commit-marks recovery line', () => g.logs.some((l) => l.msg === 'log commit-marks works again'));
    expect(await g.stop()).toBe(0);
    expect((await consumeAll(dataDir)).map((r) => r.value.metrics[0].value)).toEqual([0, 1, 2]);
  });

  it('an index cannot be written: error line and counter (records stay durable and readable)', async () => {
    const { g, admin, dataDir } = await start();
    await fx.layer!.fail('write', '.index', 'EIO');
    // ~2 KiB records: an index entry is due every 4 KiB of log.
    for (let seq = 0; seq < 6; seq++) expect((await postMetrics(g.port, 'c', body(seq, 2000))).status).toBe(200);
    await eventually('index error line', () => errorLines(g, 'index').length > 0);
    expect(errorLines(g, 'index')[0]?.msg).toMatch(/EIO: writing a segment index failed.*partition 0/);
    expect(await errorsCounted(admin, 'index')).toBeGreaterThanOrEqual(1);
    await fx.layer!.heal();
    for (let seq = 6; seq < 9; seq++) expect((await postMetrics(g.port, 'c', body(seq, 2000))).status).toBe(200);
    await eventually('index recovery line', () => g.logs.some((l) => l.msg === 'log index works again' && l.partition === 0));
    expect(await g.stop()).toBe(0);
    expect((await consumeAll(dataDir)).map((r) => r.value.metrics[0].value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a disk that stops answering: error line, counter, /readyz 503 and new requests 503 at once; the waiting request is answered 200 when it answers', async () => {
    const { g, admin, dataDir } = await start(['--disk-stall-timeout', '1s']);
    expect((await postMetrics(g.port, 'c', body(0))).status).toBe(200);
    await fx.layer!.stall('.log');
    const waiting = postMetrics(g.port, 'c', body(1));
    await waitReadyz(g.port, 503);
    expect(await (await fetch(`http://127.0.0.1:${g.port}/readyz`)).json()).toEqual({ ready: false, reason: 'disk stalled' });
    await eventually('stall error line', () => errorLines(g, 'stall').length > 0);
    expect(errorLines(g, 'stall')[0]?.msg).toMatch(/the disk stopped answering \(past --disk-stall-timeout\).*a commit has waited \d+ ms/);
    expect(await errorsCounted(admin, 'stall')).toBe(1);
    // Refused before its body is read, not queued behind the stalled commit.
    const refused = await postMetrics(g.port, 'c', body(2));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error).toMatch(/the disk has not finished a commit within --disk-stall-timeout: not stored/);
    await waitForSample(admin, 'metricstream_requests_rejected_total{reason="disk_stalled"}', 1);
    await fx.layer!.heal();
    expect((await waiting).status).toBe(200);
    await waitReadyz(g.port, 200);
    await eventually('stall recovery line', () => g.logs.some((l) => l.msg === 'the disk answers again: the stalled write completed'));
    expect((await postMetrics(g.port, 'c', body(3))).status).toBe(200);
    expect(await g.stop()).toBe(0);
    expect((await consumeAll(dataDir)).map((r) => r.value.metrics[0].value)).toEqual([0, 1, 3]);
  });

  it('a write() that stalls holds the owner thread itself: the workers time it with their own clock, /readyz 503 and new requests 503; one worker logs what holds it; the waiting request is answered 200 when the disk answers, and the owner reports the stall then', async () => {
    // Two workers: one of them, not both, says what holds the owner thread.
    const { g, admin, dataDir } = await start(['--disk-stall-timeout', '1s', '--workers', '2']);
    expect((await postMetrics(g.port, 'c', body(0))).status).toBe(200);
    // The segment write is a write() on the owner thread: it blocks that thread, and its timers.
    await fx.layer!.stall('.log', 'write');
    const waiting = postMetrics(g.port, 'c', body(1));
    await waitReadyz(g.port, 503);
    expect(await (await fetch(`http://127.0.0.1:${g.port}/readyz`)).json()).toEqual({ ready: false, reason: 'disk stalled' });
    const refused = await postMetrics(g.port, 'c', body(2));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error).toMatch(/the disk has not finished a commit within --disk-stall-timeout: not stored/);
    // The owner's own stall timer cannot run meanwhile; a worker writes the one line that says why.
    await eventually('a worker\'s line', () => errorLines(g, 'stall').length > 0);
    await sleep(1500);
    expect(errorLines(g, 'stall').map((l) => l.msg)).toEqual([expect.stringMatching(/^the disk has held the owner thread for \d+ ms .*SIGTERM wait until the disk answers$/)]);
    expect(errorLines(g, 'stall')[0].worker).toBeTypeOf('number');
    await fx.layer!.heal();
    expect((await waiting).status).toBe(200);
    await waitReadyz(g.port, 200);
    // The owner's report once the write returns: the stall with how long the commit waited, its end, one count.
    await eventually('stall recovery line', () => g.logs.some((l) => l.msg === 'the disk answers again: the stalled write completed'));
    expect(errorLines(g, 'stall')).toHaveLength(2);
    expect(errorLines(g, 'stall')[1].msg).toMatch(/a commit has waited \d+ ms/);
    expect(await errorsCounted(admin, 'stall')).toBe(1);
    expect((await postMetrics(g.port, 'c', body(3))).status).toBe(200);
    expect(await g.stop()).toBe(0);
    expect((await consumeAll(dataDir)).map((r) => r.value.metrics[0].value)).toEqual([0, 1, 3]);
  });

  it('SIGTERM while the disk is stalled: the waiting request gets 504 at --flush-timeout, the port closes, exit 1 once the disk answers, the next start recovers', async () => {
    const { g, dataDir } = await start(['--disk-stall-timeout', '1s', '--flush-timeout', '2s']);
    expect((await postMetrics(g.port, 'c', body(0))).status).toBe(200);
    await fx.layer!.stall('.log');
    const waiting = postMetrics(g.port, 'c', body(1));
    await waitReadyz(g.port, 503);
    g.proc.kill('SIGTERM');
    // Written, its fdatasync never returned: it may be stored, and the client hears so.
    const answer = await waiting;
    expect(answer.status).toBe(504);
    expect(answer.body.error).toMatch(/may have been stored/);
    await eventually('shutdown summary', () => g.logs.some((l) => l.msg === 'shutdown complete, but the disk never answered: exit 1'));
    expect(g.logs.some((l) => l.level === 50 && l.msg === gaveUpOnDiskLine('the log'))).toBe(true);
    // On stderr, a pipe of its own: it may arrive after the summary on stdout.
    await eventually('the undelivered line on stderr', () => /1 record\(s\) still undelivered at shutdown \(log\): 1 sent without acknowledgement/.test(g.stderr.join('\n')));
    // Nobody is left waiting on it: new connections are refused, not queued.
    await expect(fetch(`http://127.0.0.1:${g.port}/readyz`)).rejects.toThrow();
    // The process itself ends only when the kernel returns the stuck call.
    expect(g.proc.exitCode).toBe(null);
    await fx.layer!.heal();
    expect(await g.exited).toBe(1);
    const again = await startGateway(['--workers', '1', '--partitions', '1', '--data-dir', dataDir]);
    fx.gateway = again;
    expect((await postMetrics(again.port, 'c', body(2))).status).toBe(200);
    expect(await again.stop()).toBe(0);
    // The 504's record may or may not have survived; the 200s did.
    const values = (await consumeAll(dataDir)).map((r) => r.value.metrics[0].value);
    expect([[0, 2], [0, 1, 2]]).toContainEqual(values);
  });

  it('the disk stops answering during the close itself (its checkpoint): given up at --flush-timeout, exit 1 once the disk answers, every 200 kept', async () => {
    const { g, dataDir } = await start(['--disk-stall-timeout', '1s', '--flush-timeout', '2s']);
    for (let seq = 0; seq < 3; seq++) expect((await postMetrics(g.port, 'c', body(seq))).status).toBe(200);
    // Nothing waits now; the close's last checkpoint fdatasyncs the segments, and those stall.
    await fx.layer!.stall('.log');
    g.proc.kill('SIGTERM');
    await eventually('shutdown summary', () => g.logs.some((l) => l.msg === 'shutdown complete, but the disk never answered: exit 1'));
    expect(g.stderr.join('\n')).not.toMatch(/still undelivered/);
    expect(g.proc.exitCode).toBe(null);
    await fx.layer!.heal();
    expect(await g.exited).toBe(1);
    expect((await consumeAll(dataDir)).map((r) => r.value.metrics[0].value)).toEqual([0, 1, 2]);
  });

  it('a retention delete fails: error line and counter; the old segments stay', async () => {
    const { g, admin } = await start(['--segment-bytes', '4kb', '--retention-bytes', '8kb']);
    await fx.layer!.fail('unlink', '.log', 'EIO');
    for (let seq = 0; seq < 12; seq++) expect((await postMetrics(g.port, 'c', body(seq, 1500))).status).toBe(200);
    await eventually('retention error line', () => errorLines(g, 'retention').length > 0);
    expect(errorLines(g, 'retention')[0]?.msg).toMatch(/EIO: a retention delete failed.*partition 0/);
    expect(await errorsCounted(admin, 'retention')).toBeGreaterThanOrEqual(1);
    await fx.layer!.heal();
    for (let seq = 12; seq < 16; seq++) expect((await postMetrics(g.port, 'c', body(seq, 1500))).status).toBe(200);
    await eventually('retention recovery line', () => g.logs.some((l) => l.msg === 'log retention works again' && l.partition === 0));
    expect(await g.stop()).toBe(0);
  });
});
