/**
 * Running the gateway as a service: signals through `npm start` (what a service manager
 * sends to the pid it started) and through the bin script, with the drain finished, the
 * acknowledged record durable and no process left behind; Ctrl-C under npm (SIGINT to npm
 * and the gateway at once, then npm's forwarded copy) still drains; the bin refuses an
 * old Node in plain words.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import readline from 'node:readline';
import { describe, expect, it } from 'vitest';
import { consumeAll, postMetrics, ROOT, tempDir } from '../support/gateway-process.ts';

interface Started {
  proc: ChildProcess;
  port: number;
  gatewayPid: number;
  lines: string[];
  exited: Promise<number | string>;
}

/** Starts `command args` in ROOT and waits for the gateway's listening line. */
async function startService(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  const proc = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  readline.createInterface({ input: proc.stderr! }).on('line', (l) => lines.push(l));
  const { port, pid } = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).on('line', (l) => {
      lines.push(l);
      try {
        const e = JSON.parse(l) as { msg?: string; port?: number; pid?: number };
        if (e.msg?.includes('listening on')) resolve({ port: e.port!, pid: e.pid! });
      } catch {
        // npm's own "> metricstream@ start" lines
      }
    });
    void exited.then((code) => reject(new Error(`exited (${code}) before listening:\n${lines.join('\n')}`)));
  });
  return { proc, port, gatewayPid: pid, lines, exited };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const gatewayArgs = (dataDir: string) => ['--port', '0', '--host', '127.0.0.1', '--admin-port', 'off', '--workers', '1', '--data-dir', dataDir];

describe('signals through npm start', () => {
  it('SIGTERM to the pid of `npm start` drains the gateway: it exits 0, the record is durable, no process is left', async () => {
    const dataDir = await tempDir();
    const s = await startService('npm', ['start', '--', ...gatewayArgs(dataDir)]);
    expect(s.gatewayPid).not.toBe(s.proc.pid); // npm is the parent, the gateway its child
    expect((await postMetrics(s.port, 'svc', { metrics: [{ name: 'up', value: 1 }] })).status).toBe(200);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.lines.join('\n')).toContain('shutdown complete');
    expect(alive(s.gatewayPid)).toBe(false);
    const records = await consumeAll(dataDir);
    expect(records.map((r) => r.key)).toEqual(['svc']);
  });

  it('Ctrl-C under npm (SIGINT to both, npm forwards another) still drains instead of cutting it short', async () => {
    const dataDir = await tempDir();
    const s = await startService('npm', ['start', '--', ...gatewayArgs(dataDir)]);
    expect((await postMetrics(s.port, 'ctrl-c', { metrics: [{ name: 'up', value: 1 }] })).status).toBe(200);
    process.kill(s.gatewayPid, 'SIGINT'); // the terminal signals the whole foreground group
    s.proc.kill('SIGINT');
    await s.exited;
    const out = s.lines.join('\n');
    expect(out).toContain('shutdown complete');
    expect(out).not.toContain('second signal');
    expect(alive(s.gatewayPid)).toBe(false);
    expect((await consumeAll(dataDir)).map((r) => r.key)).toEqual(['ctrl-c']);
  });
});

describe('bin/metricstream', () => {
  it('runs the gateway itself (no npm, no shell left between): SIGTERM drains it', async () => {
    const dataDir = await tempDir();
    const s = await startService('bin/metricstream', gatewayArgs(dataDir));
    expect(s.gatewayPid).toBe(s.proc.pid); // exec'd: the service manager's pid is the gateway
    expect((await postMetrics(s.port, 'bin', { metrics: [{ name: 'up', value: 1 }] })).status).toBe(200);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.lines.join('\n')).toContain('shutdown complete');
    expect((await consumeAll(dataDir)).map((r) => r.key)).toEqual(['bin']);
  });

  const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find((n) => {
    if (!existsSync(n)) return false;
    const v = spawnSync(n, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim().split('.').map(Number);
    return v[0] < 22 || (v[0] === 22 && v[1] < 18);
  });
  it(`refuses an old Node (${oldNode ?? 'none on this machine'}) with a message saying what to do`, () => {
    // The machine's own /usr/bin/node (Node 20 here), or Debian's nodejs that
    // .ci/install-debian-packages installs where there is none.
    expect(oldNode, 'a Node older than 22.18 at /usr/bin/node or /usr/local/bin/node').toBeDefined();
    for (const bin of ['bin/metricstream', 'bin/metricstream-consume']) {
      const r = spawnSync(bin, ['--help'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, METRICSTREAM_NODE: oldNode } });
      expect(r.status, bin).toBe(1);
      expect(r.stderr).toContain('metricstream needs Node >= 22.18');
      expect(r.stderr).toContain('npm ci');
      expect(r.stdout).toBe('');
    }
  });
});
