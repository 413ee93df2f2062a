/**
 * HTTP/1.1 pipelining over real sockets (src/http/pipelining.ts): a connection may have
 * MAX_PIPELINED requests in flight, the one after is refused with 503 and a close, and
 * nothing a client sends after the last answer its connection will get is stored. A client
 * that pipelines and never reads is disconnected, and the others are served meanwhile.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PIPELINED } from '../../src/http/pipelining.ts';
import { adminPortOf, consumeAll, postMetrics, startGateway, tempDir, type GatewayProcess } from '../support/gateway-process.ts';
import { waitForSample } from '../support/admin-scrape.ts';

let gateway: GatewayProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = await tempDir();
  gateway = await startGateway(['--workers', '1', '--data-dir', dataDir, '--admin-port', '0']);
});
afterAll(async () => {
  if (gateway.proc.exitCode === null) await gateway.stop('SIGKILL');
});

/** A keep-alive POST /metrics whose record's key is `client`. */
function pipelinedPost(client: string): Buffer {
  const body = JSON.stringify({ metrics: [{ name: 'piped', value: 1 }] });
  return Buffer.from(`POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: ${client}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The HTTP/1.1 answers in `text`, in order (each with a Content-Length, as the gateway sends them). */
function splitAnswers(text: string): Answer[] {
  const answers: Answer[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const [statusLine, ...lines] = text.slice(at, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length']);
    answers.push({ status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return answers;
}

/** Writes `requests` in one go on a new connection; resolves with all it read once the gateway closes it. */
function pipeline(requests: Buffer[]): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(gateway.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(splitAnswers(Buffer.concat(chunks).toString('latin1'))));
    socket.write(Buffer.concat(requests));
  });
}

describe('pipelined requests', () => {
  it(`past ${MAX_PIPELINED} in flight on a connection: the ones before are answered in order, that one 503 with a close, and nothing after it is stored`, async () => {
    const requests = Array.from({ length: MAX_PIPELINED + 8 }, (_, i) => pipelinedPost(`deep-${i}`));
    const answers = await pipeline(requests);
    const served = answers.findIndex((a) => a.status !== 200);
    // All requests arrive in one read, so exactly MAX_PIPELINED are in flight when the next comes.
    expect(served).toBe(MAX_PIPELINED);
    expect(answers).toHaveLength(MAX_PIPELINED + 1);
    const refusal = answers[MAX_PIPELINED]!;
    expect(refusal.status).toBe(503);
    expect(refusal.headers.connection).toBe('close');
    expect(refusal.headers['retry-after']).toBe('1');
    expect(JSON.parse(refusal.body).error).toMatch(new RegExp(`^${MAX_PIPELINED} requests were in flight on this connection \\(HTTP pipelining\\): not stored`));
    for (const a of answers.slice(0, MAX_PIPELINED)) expect(JSON.parse(a.body).accepted).toBe(1);
  });

  it('after an answer that closes the connection, pipelined requests are neither stored nor answered', async () => {
    const answers = await pipeline([pipelinedPost('before-404'), Buffer.from('GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n'), pipelinedPost('after-404')]);
    expect(answers.map((a) => a.status)).toEqual([200, 404]);
    expect(answers[1]!.headers.connection).toBe('close');
  });

  it(`health checks count too: past ${MAX_PIPELINED} in flight the next is refused with a close`, async () => {
    const answers = await pipeline(Array.from({ length: MAX_PIPELINED + 4 }, () => Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')));
    expect(answers.map((a) => a.status)).toEqual([...Array<number>(MAX_PIPELINED).fill(200), 503]);
    expect(answers[MAX_PIPELINED]!.headers.connection).toBe('close');
    expect(JSON.parse(answers[MAX_PIPELINED]!.body).error).toMatch(new RegExp(`^${MAX_PIPELINED} requests were in flight on this connection`));
  });

  it('a client that pipelines and never reads is disconnected, while others are served', async () => {
    const socket = net.connect(gateway.port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    // Never read: what the gateway answers stays in the socket buffers.
    socket.pause();
    const batch = Buffer.concat(Array.from({ length: 64 }, (_, i) => pipelinedPost(`flood-${i}`)));
    const more = (): void => {
      while (!socket.destroyed && socket.write(batch));
    };
    socket.on('drain', more);
    more();
    // Another client is served while the flood runs.
    expect((await postMetrics(gateway.port, 'beside-flood', { metrics: [{ name: 'a', value: 1 }] })).status).toBe(200);
    await closed;
    expect((await postMetrics(gateway.port, 'after-flood', { metrics: [{ name: 'a', value: 1 }] })).status).toBe(200);
    await waitForSample(adminPortOf(gateway), 'metricstream_requests_rejected_total{reason="pipelined"}', 3);
    expect(gateway.logs.some((l) => l.what === 'pipelined')).toBe(true);
  });

  it('what was stored: every request answered 200, none that was refused or came after a refusal', async () => {
    expect(await gateway.stop()).toBe(0);
    const keys = (await consumeAll(dataDir)).map((r) => r.key);
    const deep = keys.filter((k) => k.startsWith('deep-')).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
    expect(deep).toEqual(Array.from({ length: MAX_PIPELINED }, (_, i) => `deep-${i}`));
    expect(keys.filter((k) => k.endsWith('-404'))).toEqual(['before-404']);
    expect(keys).toContain('beside-flood');
    expect(keys).toContain('after-flood');
    // The flood's first requests, those in flight before its refusal.
    const flood = keys.filter((k) => k.startsWith('flood-')).length;
    expect(flood).toBeGreaterThan(0);
    expect(flood).toBeLessThanOrEqual(MAX_PIPELINED);
  });
});
