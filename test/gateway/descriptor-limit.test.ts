/**
 * The descriptor limit (`ulimit -n`, set with util-linux's prlimit) against a gateway
 * process (src/main/descriptor-budget.ts): connections may not take the descriptors the log
 * needs to roll its segments. With the default --max-connections the cap follows the limit,
 * so an idle flood larger than the limit leaves every record acknowledged and readable; a
 * --max-connections too large for the limit is warned about at start.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionsWithin } from '../../src/main/descriptor-budget.ts';
import { consumeAll, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { waitFor } from '../support/wait-for.ts';

const LIMIT = 300;
let gateway: GatewayProcess | undefined;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
  gateway = undefined;
});

const listening = (g: GatewayProcess) => g.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('listening on'))!;

describe(`a gateway under ulimit -n ${LIMIT}`, () => {
  it('keeps its connections within the limit by default: under an idle flood twice the limit, the log rolls its segments and every record is acknowledged and kept', async () => {
    const dataDir = path.join(await tempDir(), 'data');
    gateway = await startGateway(['--workers', '2', '--partitions', '4', '--data-dir', dataDir, '--segment-bytes', '16kb'], { descriptorLimit: LIMIT });
    expect(listening(gateway).maxConnections).toBe(connectionsWithin(LIMIT, 2, 4));
    expect(gateway.logs.filter((l) => l.what === 'descriptor_limit')).toEqual([]);
    // Said at start, with what to do for the default.
    expect(gateway.logs.find((l) => l.limit === LIMIT)?.msg).toMatch(new RegExp(`--max-connections ${connectionsWithin(LIMIT, 2, 4)} per worker: .*ulimit -n ${LIMIT}.*raise it`));
    const pid = gateway.proc.pid!;
    let peak = 0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, readdirSync(`/proc/${pid}/fd`).length);
      } catch {
        // the process is gone: the assertions below say why
      }
    }, 5);
    try {
      // Connections that send nothing, twice as many as the gateway may hold descriptors.
      let closed = 0;
      await Promise.all(
        Array.from(
          { length: 2 * LIMIT },
          () =>
            new Promise<void>((resolve) => {
              const socket = net.connect(gateway!.port, '127.0.0.1');
              sockets.push(socket);
              socket.on('error', () => {});
              socket.on('close', () => closed++);
              socket.resume();
              socket.once('connect', () => resolve());
            }),
        ),
      );
      // Those over the cap were closed to make room for newer ones.
      await waitFor('the connections over the cap to be closed', () => closed >= 2 * LIMIT - 2 * connectionsWithin(LIMIT, 2, 4));
      // While the rest are held: 160 records of 2 KB roll each partition's 16 KiB segment
      // several times, every roll a new file.
      const pad = 'p'.repeat(2000);
      for (let i = 0; i < 160; i++) {
        const answer = await postMetrics(gateway.port, `client-${i}`, { metrics: [{ name: 'rolled', value: i, tags: { pad } }] });
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      }
    } finally {
      clearInterval(sampler);
    }
    expect(peak).toBeLessThan(LIMIT);
    await gateway.stop();
    const kept = (await consumeAll(dataDir)).map((l) => l.key).sort();
    expect(kept).toEqual(Array.from({ length: 160 }, (_, i) => `client-${i}`).sort());
  });

  it('warns at start when --workers x --max-connections passes the limit', async () => {
    gateway = await startGateway(['--workers', '2', '--data-dir', path.join(await tempDir(), 'data'), '--max-connections', '1024'], { descriptorLimit: LIMIT });
    const warning = gateway.logs.find((l) => l.what === 'descriptor_limit');
    expect(warning?.msg).toMatch(new RegExp(`ulimit -n ${LIMIT}.*lower --max-connections to ${connectionsWithin(LIMIT, 2, 4)}`));
    expect(listening(gateway).maxConnections).toBe(1024);
  });
});
