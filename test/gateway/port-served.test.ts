/**
 * A second gateway on a port that is already served refuses to start and says so, instead
 * of sharing the port through reusePort and taking part of the traffic into its own log.
 */
import net from 'node:net';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postMetrics, spawnNode, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';

/** Runs a gateway that is expected to refuse: resolves with its exit code and output. */
async function refusedGateway(args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = spawnNode('src/main/cli.ts', ['--host', '127.0.0.1', '--admin-port', 'off', '--workers', '1', ...args]);
  const lines: string[] = [];
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  readline.createInterface({ input: proc.stderr! }).on('line', (l) => lines.push(l));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return { code, output: lines.join('\n') };
}

describe('a port that is already served', () => {
  let first: GatewayProcess;
  let firstDir: string;

  beforeAll(async () => {
    firstDir = await tempDir();
    first = await startGateway(['--data-dir', firstDir, '--workers', '2']);
  });
  afterAll(async () => {
    await first?.stop();
  });

  it('a second gateway on the port of a running gateway exits 1 saying the port is served; the first keeps serving', async () => {
    const secondDir = await tempDir();
    const { code, output } = await refusedGateway(['--port', String(first.port), '--data-dir', secondDir]);
    expect(code).toBe(1);
    expect(output).toContain(`port ${first.port} on 127.0.0.1 is already served`);
    expect(output).not.toContain('listening on');
    const res = await postMetrics(first.port, 'c1', { metrics: [{ name: 'x', value: 1 }] });
    expect(res.status).toBe(200);
  });

  it('refuses a port another program serves with reusePort (the case the kernel would let it join)', async () => {
    const other = net.createServer((s) => s.end());
    await new Promise<void>((resolve) => other.listen({ host: '127.0.0.1', port: 0, reusePort: true }, resolve));
    const port = (other.address() as net.AddressInfo).port;
    try {
      const { code, output } = await refusedGateway(['--port', String(port), '--data-dir', await tempDir()]);
      expect(code).toBe(1);
      expect(output).toContain(`port ${port} on 127.0.0.1 is already served`);
    } finally {
      other.close();
    }
  });

  it('the port is free again once the gateway stopped: a new one starts there', async () => {
    const dir = await tempDir();
    const a = await startGateway(['--data-dir', dir, '--workers', '1']);
    const port = a.port;
    expect(await a.stop()).toBe(0);
    const b = await startGateway(['--data-dir', dir, '--workers', '1', '--port', String(port)]);
    try {
      expect(b.port).toBe(port);
    } finally {
      await b.stop();
    }
  });
});
