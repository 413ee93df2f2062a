/** bench/noop-server.ts: the benchmark baseline starts, answers like the gateway, stops cleanly. */
import { once } from 'node:events';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, startNoopServer } from './helpers.ts';

describe('noop-server', () => {
  it('announces all workers on one port, answers POSTs with the success body, exits 0 on SIGTERM', async () => {
    const noop = await startNoopServer(2);
    try {
      expect(noop.banner).toBe(`listening on http://127.0.0.1:${noop.port} workers=2`);
      const body = JSON.stringify({ metrics: [{ name: 'cpu', value: 75, timestamp: 1700000000000, tags: { host: 'a' } }] });
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`http://127.0.0.1:${noop.port}/metrics`, {
          method: 'POST',
          headers: { authorization: `c${i}`, 'content-type': 'application/json' },
          body,
        });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ accepted: 1, partition: 0, offset: 0 });
      }
    } finally {
      expect(await noop.stop()).toBe(0);
    }
  });

  it('exits 0 on SIGINT too', async () => {
    const noop = await startNoopServer(1);
    const exited = once(noop.child, 'exit');
    noop.child.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(0);
  });

  it('exits non-zero when its port is taken', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as { port: number };
    try {
      const child = spawn(
        process.execPath,
        ['--import', './src/main/require-node.mjs', 'bench/noop-server.ts', '--workers', '2', '--port', String(port)],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      const [code] = await once(child, 'exit');
      expect(code).not.toBe(0);
      expect(stderr).toContain('EADDRINUSE');
    } finally {
      blocker.close();
    }
  });
});
