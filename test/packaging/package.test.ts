/**
 * The package as another project gets it: `npm pack` (which builds dist/ through
 * `prepack`), the tarball installed into a scratch project in a temp dir from the npm
 * cache, then `import { createConsumer } from 'metricstream'` there (compiled JavaScript:
 * Node does not strip types inside node_modules), its .d.ts type-checked by tsc, and the
 * `metricstream-consume` bin run from the scratch project, all against a log this test
 * wrote.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { appendRound, openSink } from '../consumer/helpers.ts';
import { ROOT, tempDir } from '../support/gateway-process.ts';

let scratch: string;
let dataDir: string;
const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

beforeAll(async () => {
  const work = await tempDir('metricstream-pack-');
  // The log to read: 2 partitions x 5 records, written by the project's own LogSink.
  dataDir = path.join(work, 'data');
  const sink = await openSink(dataDir, 2);
  await appendRound(sink, 2, 5, 0);
  await sink.close();

  execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (tarball === undefined) throw new Error('npm pack wrote no tarball');
  scratch = path.join(work, 'scratch');
  mkdirSync(scratch);
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  // From the npm cache (`npm ci` of this project filled it); the registry only for what is missing.
  execFileSync('npm', ['install', '--prefer-offline', '--no-save', path.join(work, tarball)], { cwd: scratch, env, stdio: ['ignore', 'ignore', 'pipe'] });
}, 120_000);

describe('the packed package in another project', () => {
  it('ships compiled JavaScript with types and no TypeScript sources', () => {
    const files = execFileSync('find', ['node_modules/metricstream', '-type', 'f'], { cwd: scratch, encoding: 'utf8' }).split('\n');
    expect(files).toContain('node_modules/metricstream/dist/index.js');
    expect(files).toContain('node_modules/metricstream/dist/index.d.ts');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it("import { createConsumer } from 'metricstream' runs a consumer group over the log", () => {
    writeFileSync(
      path.join(scratch, 'read.mjs'),
      `import { createConsumer } from 'metricstream';
const c = createConsumer({ mode: 'log', dataDir: process.argv[2], group: 'scratch', fromBeginning: true });
const seen = [];
await c.run(async ({ partition, records }) => { for (const r of records) seen.push([partition, r.offset, r.value.seq]); }, { exitAtEnd: true });
await c.stop();
console.log(JSON.stringify(seen.sort((a, b) => a[2] - b[2])));
`,
    );
    const r = spawnSync(process.execPath, ['read.mjs', dataDir], { cwd: scratch, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as [number, number, number][];
    expect(seen.map((s) => s[2])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.stderr).not.toContain('ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING');
  });

  it('its .d.ts files type-check a TypeScript user of the library', () => {
    writeFileSync(
      path.join(scratch, 'use.ts'),
      `import { createConsumer, type ConsumedBatch, type Consumer } from 'metricstream';
const c: Consumer = createConsumer({ mode: 'log', dataDir: './data', group: 'g' });
const handle = async (b: ConsumedBatch): Promise<void> => { const n: number = b.records.length; void n; };
void c.run(handle);
// @ts-expect-error: mode must be 'log' or 'kafka'
createConsumer({ mode: 'file', dataDir: './data', group: 'g' });
`,
    );
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2024', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules/@types'), 'use.ts'], { cwd: scratch, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('the metricstream-consume bin runs from the installed package (dist/, on a supported Node)', () => {
    const r = spawnSync(path.join(scratch, 'node_modules/.bin/metricstream-consume'), ['--data-dir', dataDir, '--from-beginning', '--exit-at-end'], {
      cwd: scratch,
      encoding: 'utf8',
      env: { ...process.env, METRICSTREAM_NODE: process.execPath },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(10);
  });
});
