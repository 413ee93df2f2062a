/**
 * The production install the README documents: a checkout (here: the files git tracks, as a
 * fresh clone has them), `npm ci --omit=dev` (no TypeScript, no vitest, but the `node`
 * dependency's Node 24), then the gateway started by bin/metricstream with the machine's
 * PATH only, as a service manager would: it must find that Node by itself, serve a request
 * and drain on SIGTERM. Also: the Node versions named in package.json, .node-version, the
 * lock and the start-up check agree.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { describe, expect, it } from 'vitest';
import { consumeAll, postMetrics, ROOT, tempDir } from '../support/gateway-process.ts';
import { GATEWAY_NODE_FLAGS } from '../../src/main/node-flags.ts';

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));

describe('Node versions', () => {
  it('engines, the start-up check, .node-version and the locked `node` dependency agree', () => {
    expect(pkg.engines.node).toBe('>=22.18');
    expect(readFileSync(path.join(ROOT, 'src/main/require-node.mjs'), 'utf8')).toContain('minor < 18');
    const locked = lock.packages['node_modules/node'];
    expect(locked.dev).toBeUndefined(); // a runtime dependency: npm ci --omit=dev installs it
    expect(pkg.dependencies.node).toBeDefined();
    expect(readFileSync(path.join(ROOT, '.node-version'), 'utf8').trim()).toBe(locked.version);
    expect(Number(locked.version.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('every npm script that runs node execs it (signals reach it) with the one warning filter; the gateway with its node flags', () => {
    // npm start and the bin scripts run the gateway with GATEWAY_NODE_FLAGS (src/main/node-flags.ts), the other scripts without.
    const gatewayFlags = GATEWAY_NODE_FLAGS.map((f) => `${f} `).join('');
    for (const [name, script] of Object.entries(pkg.scripts as Record<string, string>)) {
      if (!/\bnode\b/.test(script) || name === 'test') continue;
      const flags = name === 'start' ? gatewayFlags : '';
      expect(script, name).toMatch(new RegExp(`^exec node ${flags}--disable-warning=TimeoutNegativeWarning --import \\./src/main/require-node\\.mjs `));
    }
    expect(readFileSync(path.join(ROOT, 'bin/run-node.sh'), 'utf8')).toContain(`exec "$node" ${gatewayFlags}--disable-warning=TimeoutNegativeWarning`);
    expect(readFileSync(path.join(ROOT, 'vitest.config.ts'), 'utf8')).toContain("'--disable-warning=TimeoutNegativeWarning'");
  });
});

describe('production install: npm ci --omit=dev, then bin/metricstream', () => {
  it('installs without dev dependencies, starts on the bundled Node with a bare PATH, serves, drains on SIGTERM', async () => {
    const app = path.join(await tempDir('metricstream-prod-'), 'app');
    mkdirSync(app);
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0');
    for (const f of files) if (f !== '' && existsSync(path.join(ROOT, f))) cpSync(path.join(ROOT, f), path.join(app, f), { recursive: true });
    execFileSync('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] });
    expect(existsSync(path.join(app, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/vitest'))).toBe(false);
    expect(execFileSync(path.join(app, 'node_modules/.bin/node'), ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()).toBe(lock.packages['node_modules/node'].version);

    const dataDir = path.join(app, 'data');
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root' };
    const proc = spawn(path.join(app, 'bin/metricstream'), ['--port', '0', '--host', '127.0.0.1', '--admin-port', 'off', '--workers', '1', '--data-dir', dataDir], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    readline.createInterface({ input: proc.stderr! }).on('line', (l) => lines.push(l));
    const port = await new Promise<number>((resolve, reject) => {
      readline.createInterface({ input: proc.stdout! }).on('line', (l) => {
        lines.push(l);
        if (l.includes('listening on')) resolve((JSON.parse(l) as { port: number }).port);
      });
      void exited.then((code) => reject(new Error(`exited ${code}:\n${lines.join('\n')}`)));
    });
    expect((await postMetrics(port, 'prod', { metrics: [{ name: 'up', value: 1 }] })).status).toBe(200);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.join('\n')).toContain('shutdown complete');
    expect((await consumeAll(dataDir)).map((r) => r.key)).toEqual(['prod']);
  }, 120_000);
});
