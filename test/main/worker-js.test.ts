/**
 * workerModuleUrl (src/main/worker-js.ts): a .ts worker entry becomes a JavaScript copy of
 * its module graph (static, type-only and dynamic relative imports followed), made once
 * per content and reused; a .js URL is returned as is.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { sourceUrlOf, workerModuleUrl } from '../../src/main/worker-js.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('workerModuleUrl', () => {
  it('strips a worker graph once into node_modules/.cache and the copy runs', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'worker-js-'));
    dirs.push(root);
    await mkdir(path.join(root, 'node_modules'));
    await mkdir(path.join(root, 'src/lib'), { recursive: true });
    await writeFile(path.join(root, 'src/entry.ts'), [
      "import { twice } from './lib/twice.ts';",
      "import type { Shape } from './lib/shape.ts';",
      'const s: Shape = { n: 21 };',
      "export const value: number = twice(s.n) + (await import('./lib/one.ts')).one;",
    ].join('\n'));
    await writeFile(path.join(root, 'src/lib/twice.ts'), 'export function twice(n: number): number { return 2 * n; }\n');
    await writeFile(path.join(root, 'src/lib/shape.ts'), 'export interface Shape { n: number }\n');
    await writeFile(path.join(root, 'src/lib/one.ts'), 'export const one: 1 = 1;\n');

    const url = workerModuleUrl(pathToFileURL(path.join(root, 'src/entry.ts')));
    expect(url.pathname).toMatch(/\/node_modules\/\.cache\/metricstream-worker-js\/[0-9a-f]{16}\/src\/entry\.js$/);
    expect(await readFile(url, 'utf8')).toContain("from './lib/twice.js'");
    const mod = (await import(url.href)) as { value: number };
    expect(mod.value).toBe(43);
    expect(workerModuleUrl(pathToFileURL(path.join(root, 'src/entry.ts'))).href).toBe(url.href);
    expect(sourceUrlOf(url.href)).toBe(pathToFileURL(path.join(root, 'src/entry.ts')).href);
    expect(sourceUrlOf('node:http')).toBe('node:http');

    // Changed sources get a fresh copy.
    await writeFile(path.join(root, 'src/lib/one.ts'), 'export const one: number = 2;\n');
    const changed = workerModuleUrl(pathToFileURL(path.join(root, 'src/entry.ts')));
    expect(changed.href).not.toBe(url.href);
    expect(((await import(changed.href)) as { value: number }).value).toBe(44);
  });

  it('falls back to a cache with a node_modules link when the first cannot be written', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'worker-js-'));
    dirs.push(root);
    await mkdir(path.join(root, 'node_modules/dep'), { recursive: true });
    await writeFile(path.join(root, 'node_modules/dep/package.json'), '{"name":"dep","type":"module","exports":"./index.js"}');
    await writeFile(path.join(root, 'node_modules/dep/index.js'), 'export const dep = 7;\n');
    await mkdir(path.join(root, 'src'));
    await writeFile(path.join(root, 'src/entry.ts'), "import { dep } from 'dep';\nexport const value: number = dep;\n");
    await writeFile(path.join(root, 'not-a-dir'), '');
    const url = workerModuleUrl(pathToFileURL(path.join(root, 'src/entry.ts')), [path.join(root, 'not-a-dir/cache'), path.join(root, 'elsewhere')]);
    expect(url.pathname.startsWith(path.join(root, 'elsewhere'))).toBe(true);
    expect(((await import(url.href)) as { value: number }).value).toBe(7);
  });

  it('returns a JavaScript URL unchanged', () => {
    const js = new URL('file:///somewhere/dist/workers/http-worker.js');
    expect(workerModuleUrl(js)).toBe(js);
  });
});
