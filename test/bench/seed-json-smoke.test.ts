/**
 * Smoke run of bench:seed-json: both paths store the same bytes on its bodies (it checks
 * that before timing) and it reports a ratio for each body.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from '../support/gateway-process.ts';

const run = promisify(execFile);

it('bench:seed-json times the scanner against the JSON.parse path', async () => {
  const { stdout } = await run(process.execPath, ['--import', './src/main/require-node.mjs', 'bench/seed-json.ts', '--quick'], { cwd: ROOT, timeout: 60_000 });
  expect(stdout.match(/reference \/ scanner: msgpack [\d.]+x, json [\d.]+x/g)).toHaveLength(3);
}, 60_000);
