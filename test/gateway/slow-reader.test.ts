/**
 * Clients that stop reading their answers (src/http/slow-readers.ts), over real
 * sockets: once the kernel's buffers are full and an answer has waited in the gateway for
 * --body-timeout, the connection is reset and the kernel lets go of what it held for it;
 * a client that reads, however much, is never cut, and the others are served meanwhile.
 *
 * The answers come from the test hook GET /__test/large (METRICSTREAM_TEST_HOOKS=1):
 * sixteen answers of 4 MiB pass what both ends' kernels buffer for one connection
 * (tcp_rmem and tcp_wmem allow 32 + 4 MiB here), within MAX_PIPELINED, so the connection
 * stalls on its own buffers and not on the pipelining limit. The kernel's side of the
 * connection is read from /proc/net/tcp.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PIPELINED } from '../../src/http/pipelining.ts';
import { makePki, type Pki } from '../auth/helpers.ts';
import { waitForSample } from '../support/admin-scrape.ts';
import { consumeAll, postMetrics, startGatewayWithTestHooks, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { socketQueues } from '../support/socket-queues.ts';
import { waitFor } from '../support/wait-for.ts';

const ANSWER_BYTES = 4 << 20;
const ANSWERS = MAX_PIPELINED;
const LARGE = Buffer.from(`GET /__test/large?bytes=${ANSWER_BYTES} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(ANSWERS));
const SLOW_READERS = 'metricstream_requests_rejected_total{reason="slow_reader"}';

let gateway: GatewayProcess | undefined;
afterEach(async () => {
  if (gateway && gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
  gateway = undefined;
});

let pki: Pki;
beforeAll(async () => {
  pki = makePki(await tempDir('metricstream-pki-'));
});

/** The gateway's side of the connection from local port `clientPort` (undefined once gone). */
const gatewaySide = (clientPort: number) => socketQueues(gateway!.port, clientPort);

/** Waits until the gateway holds answer bytes its kernel will not send: the client's window is shut. */
async function waitForStall(clientPort: number): Promise<void> {
  await waitFor('the gateway to have answers it cannot send', () => {
    const side = gatewaySide(clientPort);
    return side !== undefined && side.sendQueue > 0 && socketQueues(clientPort, gateway!.port)!.receiveQueue > 0;
  });
}

describe('a client that does not read its answers', () => {
  it('is reset once its answers have waited --body-timeout; the kernel frees its side at once, and others are served meanwhile', async () => {
    const dataDir = await tempDir();
    gateway = await startGatewayWithTestHooks(['--workers', '1', '--data-dir', dataDir, '--admin-port', '0', '--body-timeout', '1s']);
    const socket = net.connect(gateway.port, '127.0.0.1');
    // Paused before it connects, a Node socket never reads: its answers stay in the kernel.
    socket.pause();
    await new Promise((resolve) => socket.once('connect', resolve));
    const errors: NodeJS.ErrnoException[] = [];
    socket.on('error', (e) => errors.push(e));
    const clientPort = socket.localPort!;
    socket.write(LARGE);
    await waitForStall(clientPort);

    // Another client is served while the stalled one waits for its cut.
    expect((await postMetrics(gateway.port, 'reader', { metrics: [{ name: 'beside', value: 1 }] })).status).toBe(200);

    // Reset: the gateway's socket is gone from the kernel's table, not left closing with
    // megabytes still queued for a client that will not take them.
    await waitFor('the gateway side of the connection to be gone', () => gatewaySide(clientPort) === undefined);
    await waitForSample(gateway, SLOW_READERS, 1);
    // Reading now, the client gets what its own kernel kept, then the reset.
    const received = await new Promise<number>((resolve) => {
      let bytes = 0;
      socket.on('data', (d: Buffer) => (bytes += d.length));
      socket.once('close', () => resolve(bytes));
      socket.resume();
    });
    expect(errors.map((e) => e.code)).toEqual(['ECONNRESET']);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(ANSWERS * ANSWER_BYTES);

    expect((await postMetrics(gateway.port, 'reader', { metrics: [{ name: 'after', value: 1 }] })).status).toBe(200);
    await gateway.stop('SIGTERM');
    expect((await consumeAll(dataDir)).map((l) => l.key)).toEqual(['reader', 'reader']);
  });

  it('over TLS is closed the same way once its answers have waited --body-timeout', async () => {
    gateway = await startGatewayWithTestHooks([
      '--workers', '1', '--data-dir', await tempDir(), '--admin-port', '0', '--body-timeout', '1s',
      '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey,
    ]);
    const socket = tls.connect({ port: gateway.port, host: '127.0.0.1', ca: readFileSync(pki.caCert), servername: 'localhost' });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.pause();
    socket.on('error', () => {});
    const clientPort = socket.localPort!;
    socket.write(LARGE);
    await waitForStall(clientPort);
    await waitFor('the gateway side of the connection to be closed', () => gatewaySide(clientPort)?.state !== 'ESTABLISHED');
    await waitForSample(gateway, SLOW_READERS, 1);
  });
});

describe('a client that reads', () => {
  it(`gets all of ${ANSWERS} answers of ${ANSWER_BYTES >> 20} MiB pipelined at once, and its connection stays open`, async () => {
    // The default --body-timeout (10 s): 64 MiB take a loaded machine well over the 1 s of
    // the tests above, and a reader that takes longer than the timeout is cut by design.
    gateway = await startGatewayWithTestHooks(['--workers', '1', '--data-dir', await tempDir(), '--admin-port', '0']);
    const socket = net.connect(gateway.port, '127.0.0.1');
    let bytes = 0;
    socket.on('data', (d: Buffer) => (bytes += d.length));
    socket.write(LARGE);
    await waitFor('every answer', () => bytes >= ANSWERS * ANSWER_BYTES);
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const before = bytes;
    await waitFor('the health check answered on the same connection', () => bytes > before);
    expect(socket.destroyed).toBe(false);
    socket.destroy();
    await waitForSample(gateway, SLOW_READERS, 0);
  });
});
