/**
 * `npm run profile` end to end: a real gateway under --cpu-prof, real load, real 0x
 * rendering. Checks that every thread gets its named profile and flame graph, that the
 * profiles hold the code a reader looks for, and that a failing gateway fails the run.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import vm from 'node:vm';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpuProfile } from '../../src/profile/cpuprofile.ts';
import type { LoadSummary } from '../../src/load/run-load.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const THREADS = ['owner', 'http-worker-0', 'http-worker-1'];

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

function runProfileCli(args: string[]): Promise<Run> {
  const proc = spawn(process.execPath, ['--import', './src/main/require-node.mjs', 'src/profile/cli.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code: code ?? signal ?? -1, stdout, stderr })));
}

/**
 * Runs a flame graph page's inline script against the few DOM calls it makes (no browser
 * here) and returns the drawn SVG and the search box's verdict for `search`.
 */
function drawFlameGraph(html: string, search: string): { svg: string; matched: string } {
  const script = /<script>\n([\s\S]*)<\/script>/.exec(html)![1];
  const handlers = new Map<string, (e?: unknown) => void>();
  const elements = new Map<string, Record<string, unknown>>();
  const element = (id: string) => {
    if (!elements.has(id)) {
      elements.set(id, { clientWidth: 1200, offsetWidth: 100, innerHTML: '', textContent: '', value: '', style: {}, addEventListener: (type: string, f: () => void) => handlers.set(`${id}:${type}`, f) });
    }
    return elements.get(id)!;
  };
  const window = { innerWidth: 1300, addEventListener: () => {} };
  vm.runInNewContext(script, { document: { getElementById: element }, window });
  const svg = element('chart').innerHTML as string;
  element('q').value = search;
  handlers.get('q:input')!();
  return { svg, matched: element('match').textContent as string };
}

async function readProfile(dir: string, role: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(path.join(dir, `${role}.cpuprofile`), 'utf8')) as CpuProfile;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'metricstream-profile-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('npm run profile', () => {
  let out: string;
  let run: Run;
  beforeAll(async () => {
    out = path.join(tmp, 'run');
    run = await runProfileCli(['--duration', '2', '--workers', '2', '--out', out]);
  }, 120_000);

  it('exits 0 and prints the path of an index.html that exists', () => {
    expect(run.code, run.stderr).toBe(0);
    const printed = run.stdout.trim();
    expect(printed).toBe(path.join(out, 'index.html'));
    expect(existsSync(printed)).toBe(true);
  });

  it('writes a named profile and a flame graph for the owner and every HTTP worker', async () => {
    for (const role of THREADS) {
      expect(existsSync(path.join(out, `${role}.cpuprofile`)), role).toBe(true);
      const html = await readFile(path.join(out, `${role}.html`), 'utf8');
      // The flame graph page embeds the profile's frames: a real graph, not an empty shell.
      expect(html, role).toContain('<script>');
      expect(html, role).toContain(role === 'owner' ? 'owner.ts' : 'http-worker.ts');
    }
    // No raw CPU.*.cpuprofile left behind: every thread was recognised.
    expect((await readdir(out)).filter((f) => f.startsWith('CPU.'))).toEqual([]);
  });

  it('draws each flame graph page, with the request handler findable by search', async () => {
    for (const role of THREADS) {
      const { svg, matched } = drawFlameGraph(await readFile(path.join(out, `${role}.html`), 'utf8'), role === 'owner' ? 'src/main/owner\\.ts' : 'handle|acceptMetrics|publish');
      expect(svg, role).toMatch(/^<svg /);
      expect((svg.match(/<g data-id=/g) ?? []).length, role).toBeGreaterThan(10);
      expect(matched, role).toMatch(/^matched: \d+\.\d+% of busy samples$/);
      expect(matched, role).not.toBe('matched: 0.00% of busy samples');
    }
  });

  it('profiles each HTTP worker inside the request handler', async () => {
    for (const role of ['http-worker-0', 'http-worker-1']) {
      const profile = await readProfile(out, role);
      const handler = profile.nodes.some(
        (n) => ['handle', 'acceptMetrics', 'publish'].includes(n.callFrame.functionName) && n.callFrame.url.endsWith('src/workers/http-worker.ts'),
      );
      expect(handler, `${role} has a frame of the request handler (handle) in src/workers/http-worker.ts`).toBe(true);
    }
  });

  it('profiles the owner thread in the owner loop', async () => {
    const profile = await readProfile(out, 'owner');
    expect(profile.nodes.some((n) => n.callFrame.url.endsWith('src/main/owner.ts'))).toBe(true);
  });

  it('index.html links every thread graph and lists its top frames', async () => {
    const index = await readFile(path.join(out, 'index.html'), 'utf8');
    for (const role of THREADS) expect(index).toContain(`href="${role}.html"`);
    expect((index.match(/<table>/g) ?? []).length).toBe(THREADS.length);
    // Pseudo-frames are reported apart, never ranked as functions.
    expect(index).not.toMatch(/<code>\((idle|program|garbage collector)\)<\/code>/);
  });

  it('writes the load summary and a markdown summary of every thread', async () => {
    const load = JSON.parse(await readFile(path.join(out, 'load-summary.json'), 'utf8')) as LoadSummary;
    expect(load.succeeded).toBeGreaterThan(0);
    expect(load.durationSeconds).toBe(2);
    const md = await readFile(path.join(out, 'summary.md'), 'utf8');
    for (const role of THREADS) expect(md).toMatch(new RegExp(`^### ${role}: busy`, 'm'));
    expect(md).toContain('| # | function | file:line | self % | samples |');
  });
});

describe('npm run profile failures', () => {
  it('exits 1 with the reason when the gateway accepts nothing (Kafka unreachable)', async () => {
    const run = await runProfileCli(['--duration', '1', '--workers', '1', '--mode', 'kafka', '--brokers', '127.0.0.1:1', '--out', path.join(tmp, 'down')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('profile failed: gateway accepted no request');
    expect(run.stderr).toContain('503');
  }, 60_000);

  it('refuses an --out folder that already holds files', async () => {
    const used = path.join(tmp, 'used');
    await mkdir(used);
    await writeFile(path.join(used, 'old.cpuprofile'), '{}');
    const run = await runProfileCli(['--duration', '1', '--workers', '1', '--out', used]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is not empty');
  });

  it('exits 2 on a bad flag', async () => {
    const run = await runProfileCli(['--mode', 'carrier-pigeon']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--mode');
  });
});
