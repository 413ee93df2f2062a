/**
 * Disk-full soak: a gateway under steady load on a small tmpfs whose space is taken and
 * given back, again and again, at random moments and in random amounts (seeded PRNG):
 * mid-commit, mid-roll, mid-retention, mid-preallocation. The suite's disk-full test
 * (test/gateway/disk-full.test.ts) fills once and frees once; this looks for what only
 * repetition finds: a partition that never resumes, a preallocation policy that stays
 * off, a 200 whose record is gone, a damaged frame, a process that dies. In about one
 * episode in twenty the gateway is killed (kill -9) while the disk is full and started
 * again on the full disk, which must work (the writer lock once needed a free block).
 *
 *   npm run soak:disk-full                           # 200 episodes, seed 1
 *   SOAK_FILLS=200 SOAK_SEED=3 npm run soak:disk-full
 *   SOAK_KEEP=/tmp/kept npm run soak:disk-full       # a copy of the data dir and every answer
 *
 * Needs root (it mounts the tmpfs), as the suite's disk-full test does.
 */
import { cp, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { retainedFrom, unstoredAcks } from '../support/acknowledged.ts';
import { adminPortOf, consumeAll, startGateway, type GatewayProcess } from '../support/gateway-process.ts';
import type { Outcome } from '../support/sequential-load.ts';
import { fillDisk, useSmallDisk } from '../support/small-disk.ts';
import { prng } from '../support/prng.ts';
import { readyz } from '../support/readiness.ts';
import { loadUntil } from '../support/sequential-load.ts';
import { scrapeSample } from '../support/admin-scrape.ts';

// 200 by default: the journal that grew into every byte the filler gave back (twenty-second
// round) showed only past about 80 episodes, never in 60.
const FILLS = Number(process.env.SOAK_FILLS ?? 200);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const PARTITIONS = 4;
/** The chance, per episode, of a kill -9 while the disk is full and a start on the full disk. */
const KILL_CHANCE = 0.05;

const disk = useSmallDisk('8m');
let gateway: GatewayProcess | undefined;

afterAll(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`${FILLS} disk-full episodes under load (seed ${SEED}): the gateway keeps serving, every client gets 200 again, every 200 survives`, { timeout: FILLS * 20_000 + 120_000 }, async () => {
  const random = prng(SEED);
  const dataDir = path.join(disk.dir, 'data');
  // Retention keeps the log inside the tmpfs (4 partitions × 512 KiB of 64 KiB segments)
  // and deletes segments while the disk fills and empties.
  const args = ['--workers', '2', '--partitions', String(PARTITIONS), '--segment-bytes', '64kb', '--retention-bytes', '512kb', '--data-dir', dataDir, '--admin-port', '0'];
  // One life per gateway process: its own clients (`full<life>_<n>`), so every outcome names
  // a distinct record; a life ended by a kill may end in failed connections, the last may not.
  const killedLives: Outcome[] = [];
  let life = 0;
  const startLife = async () => {
    gateway = await startGateway(args);
    let stopLoad!: () => void;
    const stopped = new Promise<void>((resolve) => (stopLoad = resolve));
    const load = loadUntil(gateway.port, `full${life}`, 12, stopped);
    return { g: gateway, end: async () => (stopLoad(), load) };
  };
  let current = await startLife();

  const filler = path.join(disk.dir, 'filler');
  const episodes: string[] = [];
  let kills = 0;
  for (let i = 0; i < FILLS; i++) {
    await sleep(Math.floor(random() * 300));
    const size = await fillDisk(filler);
    if (i === 0) expect(size, 'the filler took the free space').toBeGreaterThan(0);
    await sleep(Math.floor(random() * 500));
    if (random() < KILL_CHANCE) {
      expect(await current.g.stop('SIGKILL')).toBe('SIGKILL');
      killedLives.push(...(await current.end()));
      life++;
      kills++;
      // The disk is still full: the new process must start, recover and serve on it.
      current = await startLife();
      episodes.push('kill');
    }
    // Give back anything from 0 to 1.5 MiB: sometimes less than one partition's zeros ahead.
    const give = Math.min(size, Math.floor(random() * 1.5 * 1024 * 1024));
    await truncate(filler, size - give);
    episodes.push(`${(give / 1024) | 0}k`);
  }
  await rm(filler);
  // With the space back, every partition must take records again within a few seconds.
  await sleep(3000);
  const g = current.g;
  const admin = adminPortOf(g);
  const lastLife = await current.end();
  const outcomes = [...killedLives, ...lastLife];
  expect(lastLife.filter((o) => o.status === 'error'), 'connections that failed: the gateway must keep serving').toEqual([]);
  const statuses = new Map<string, number>();
  for (const o of outcomes) statuses.set(String(o.status), (statuses.get(String(o.status)) ?? 0) + 1);
  // After the last episode, with the disk free again, the last request of every client was answered 200.
  const last = new Map<string, (typeof outcomes)[number]>();
  for (const o of lastLife) last.set(o.client, o);
  expect([...last.values()].filter((o) => o.status !== 200).map((o) => `${o.client}: ${o.status}`), 'clients still refused once the space was back').toEqual([]);
  expect(await readyz(g.port), '/readyz once the space was back').toBe(200);
  const writeErrors = (await scrapeSample(admin, 'metricstream_log_errors_total{kind="write"}')) || 0;
  expect(await g.stop()).toBe(0);
  gateway = undefined;

  if (process.env.SOAK_KEEP) {
    await cp(dataDir, process.env.SOAK_KEEP, { recursive: true });
    await writeFile(path.join(process.env.SOAK_KEEP, 'outcomes.json'), JSON.stringify(outcomes));
  }
  const stored = await consumeAll(dataDir);
  const { checked, missing } = unstoredAcks(outcomes, stored, await retainedFrom(dataDir, PARTITIONS));
  console.log(
    `${FILLS} disk-full episodes, seed ${SEED}, ${kills} kills while full: answers ${JSON.stringify(Object.fromEntries(statuses))}, ` +
      `${writeErrors} failed commits counted by the last process, ${checked} acknowledged records still retained and checked, ${stored.length} stored; freed per episode ${episodes.join(' ')}`,
  );
  expect(missing.slice(0, 10), `${missing.length} of ${checked} acknowledged records lost`).toEqual([]);
});
