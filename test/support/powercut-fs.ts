/**
 * Mounts test/tools/powercut_fs.py (a FUSE pass-through layer that forgets, at a simulated
 * power cut, every byte not fsync'd and every directory entry whose directory was not
 * fsync'd) for power-cut tests. Needs root (or fusermount), /dev/fuse, libfuse2 and
 * Debian's python3-fusepy under /usr/bin/python3: all installed by .ci/install-debian-packages.
 * Nothing here skips: a machine without FUSE fails the test with the reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { afterEach } from 'vitest';
import { ROOT, type GatewayProcess } from './gateway-process.ts';
import { loadUntil, type Outcome } from './sequential-load.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(ROOT, 'test/tools/powercut_fs.py');

export interface PowerCutMount {
  /** Where the layer is mounted: put the data dir under it. */
  mount: string;
  /** The real directory under the layer; after cut() it holds only what survived. */
  backing: string;
  /**
   * The power cut: every later operation on the mount fails with EIO and the backing dir
   * is rolled back to what was made durable. Resolves once the rollback is done.
   */
  cut(): Promise<void>;
  /**
   * Injects failures: `op` 'write' (write, truncate, fsync), 'fsync' (fsync and fdatasync
   * alone) or 'unlink' on paths ending with `suffix` fail with `errno` (e.g. 'EIO',
   * 'ENOSPC') until heal(). 'fsync-persisted': the fsync makes the bytes durable and then
   * fails all the same, so the caller cannot know they survive a cut.
   */
  fail(op: 'write' | 'fsync' | 'fsync-persisted' | 'unlink', suffix: string, errno: string): Promise<void>;
  /**
   * A disk that stops answering: fsync and fdatasync (`op` 'fsync', the default) or writes
   * (`op` 'write') of paths ending with `suffix` block until heal(); every other operation
   * goes on.
   */
  stall(suffix: string, op?: 'fsync' | 'write'): Promise<void>;
  /** Ends every injected failure and lets stalled operations return. */
  heal(): Promise<void>;
  /** Unmounts (lazily if still busy) and waits for the layer's process to end. */
  unmount(): Promise<void>;
}

/**
 * Mounts a power-cut layer over `<dir>/backing` at `<dir>/mnt` (shadow state in
 * `<dir>/shadow-N`). What `backing` holds at mount time counts as durable.
 */
export async function mountPowerCut(dir: string, generation = 0): Promise<PowerCutMount> {
  const backing = path.join(dir, 'backing');
  const mount = path.join(dir, 'mnt');
  const shadow = path.join(dir, `shadow-${generation}`);
  await mkdir(backing, { recursive: true });
  await mkdir(mount, { recursive: true });
  await mkdir(shadow, { recursive: true });
  const proc: ChildProcess = spawn(PYTHON, [SCRIPT, backing, mount, shadow], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const lines = readline.createInterface({ input: proc.stdout! });
  const waiters: { word: string; resolve: () => void }[] = [];
  lines.on('line', (line) => {
    const i = waiters.findIndex((w) => w.word === line.trim());
    if (i >= 0) waiters.splice(i, 1)[0].resolve();
  });
  const waitFor = (word: string) =>
    new Promise<void>((resolve, reject) => {
      waiters.push({ word, resolve });
      void exited.then((code) =>
        reject(new Error(`powercut_fs.py exited (${code}) before "${word}": ${stderr.trim() || 'no output'} ` +
          `(needs /dev/fuse, libfuse2, python3-fusepy: .ci/install-debian-packages)`)),
      );
    });
  proc.once('error', () => {});
  await waitFor('ready');
  return {
    mount,
    backing,
    async cut() {
      const done = waitFor('cut-done');
      proc.stdin!.write('cut\n');
      await done;
    },
    async fail(op, suffix, errno) {
      const done = waitFor('ok');
      proc.stdin!.write(`fail ${op} ${suffix} ${errno}\n`);
      await done;
    },
    async stall(suffix, op = 'fsync') {
      const done = waitFor('ok');
      proc.stdin!.write(`stall ${op} ${suffix}\n`);
      await done;
    },
    async heal() {
      const done = waitFor('ok');
      proc.stdin!.write('heal\n');
      await done;
    },
    async unmount() {
      for (let attempt = 0; attempt < 20 && proc.exitCode === null; attempt++) {
        // fusermount3 (Debian's fuse3); plain umount works too as root.
        const lazy = attempt > 10;
        const r = spawnSync('fusermount3', ['-u', ...(lazy ? ['-z'] : []), mount]);
        if (r.status === 0 || spawnSync('umount', [...(lazy ? ['-l'] : []), mount]).status === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await exited;
    },
  };
}

/** What a power-cut test holds open: the afterEach of usePowerCutFixture() releases it. */
export interface PowerCutFixture {
  gateway?: GatewayProcess;
  layer?: PowerCutMount;
  /** The directory holding the layer's backing store and mount point. */
  dir?: string;
}

/**
 * Registers an afterEach that kills the test's gateway (SIGKILL), unmounts its layer and
 * removes its directory, whatever the test left set; call once at the top of a test file.
 */
export function usePowerCutFixture(): PowerCutFixture {
  const fx: PowerCutFixture = {};
  afterEach(async () => {
    // A sync the test stalled would hold the gateway's exit and the unmount forever.
    await fx.layer?.heal().catch(() => {});
    if (fx.gateway && fx.gateway.proc.exitCode === null) await fx.gateway.stop('SIGKILL');
    fx.gateway = undefined;
    await fx.layer?.unmount();
    fx.layer = undefined;
    if (fx.dir) await rm(fx.dir, { recursive: true, force: true });
    fx.dir = undefined;
  });
  return fx;
}

/**
 * Loads gateway `g`, whose data dir is on `layer`, with 12 sequential clients named
 * `<prefix>_<n>` and, once `cutAfter` requests were answered 200, cuts the power: SIGKILL
 * and the layer's rollback at the same moment. Resolves with every request's outcome once
 * the gateway is gone and the layer unmounted.
 */
export async function loadAndCut(g: GatewayProcess, layer: PowerCutMount, prefix: string, cutAfter: number): Promise<Outcome[]> {
  let ok = 0;
  let cutting: Promise<void> = Promise.resolve();
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const outcomes = await loadUntil(g.port, prefix, 12, stopped, () => {
    if (++ok !== cutAfter) return;
    g.proc.kill('SIGKILL');
    cutting = layer.cut();
    stop();
  });
  await cutting;
  await g.exited;
  await layer.unmount();
  return outcomes;
}
