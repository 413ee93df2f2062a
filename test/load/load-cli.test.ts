/**
 * `npm run load`: what it sends (per-connection client ids, exact per-client counts,
 * bodies in both formats) and what it reports (counts, success rate, exit status).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadSummary } from '../../src/load/run-load.ts';
import { ROOT, runLoadCli, startNoopServer, unusedPort } from './helpers.ts';
import type { NoopServer } from './helpers.ts';

interface Received {
  authorization: string | undefined;
  contentType: string | undefined;
  body: Buffer;
}

/**
 * An HTTP server in the test process that records every request it gets and answers
 * with the status `statusFor` picks from the client id and that client's request
 * number (1-based); 'drop' closes the connection without answering.
 */
async function recordingServer(
  statusFor: (clientId: string | undefined, nth: number) => number | 'drop' = () => 200,
) {
  const received: Received[] = [];
  const perClient = new Map<string | undefined, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks),
      });
      const nth = (perClient.get(req.headers.authorization) ?? 0) + 1;
      perClient.set(req.headers.authorization, nth);
      const status = statusFor(req.headers.authorization, nth);
      if (status === 'drop') {
        req.socket.destroy();
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{"accepted":1,"partition":0,"offset":0}' : '{"error":"busy"}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    port,
    received,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

describe('npm run load against the no-op server (2 workers)', () => {
  let noop: NoopServer;
  beforeAll(async () => {
    noop = await startNoopServer(2);
  });
  afterAll(async () => {
    await noop?.stop();
  });

  it('--clients 5 --requests 20 --json reports 100 requests, all 200', async () => {
    const run = await runLoadCli(['--port', String(noop.port), '--clients', '5', '--requests', '20', '--json']);
    expect(run.code).toBe(0);
    // Non-TTY: no progress bar or banner, and stdout is exactly one JSON object.
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]) as LoadSummary;
    expect(s).toMatchObject({
      clients: 5,
      requestsPerClient: 20,
      durationSeconds: null,
      sent: 100,
      total: 100,
      responses: 100,
      succeeded: 100,
      successRate: 1,
      statusCodes: { '200': 100 },
      errors: 0,
      timeouts: 0,
      unanswered: 0,
      aborted: false,
    });
    expect(s.requestsPerSecond).toBeGreaterThan(0);
    expect(s.metricsPerSecond).toBe(s.requestsPerSecond);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p99);
    expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
  });

  it('--duration runs for the given time instead of a request count', async () => {
    const run = await runLoadCli(['--port', String(noop.port), '--clients', '4', '--duration', '1', '--json']);
    expect(run.code).toBe(0);
    const s = JSON.parse(run.stdout) as LoadSummary;
    expect(s.durationSeconds).toBe(1);
    expect(s.requestsPerClient).toBeNull();
    expect(s.elapsedSeconds).toBeLessThanOrEqual(1);
    expect(s.responses).toBeGreaterThan(0);
    expect(s.succeeded).toBe(s.total);
    expect(s.statusCodes).toEqual({ '200': s.responses });
  });

  it('prints a human table by default', async () => {
    const run = await runLoadCli(['--port', String(noop.port), '--clients', '2', '--requests', '5']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Success rate\s+100\.00%/);
    expect(run.stdout).toMatch(/Status codes\s+200: 10/);
    expect(run.stdout).toMatch(/Latency \(ms\)\s+avg [\d.]+\s+p50 [\d.]+\s+p99 [\d.]+\s+max [\d.]+/);
  });
});

describe('npm run load: what goes on the wire', () => {
  it('gives each connection its own client id and exactly --requests requests', async () => {
    const rec = await recordingServer();
    try {
      const run = await runLoadCli(['--port', String(rec.port), '--clients', '5', '--requests', '20', '--json']);
      expect(run.code).toBe(0);
      expect(countBy(rec.received, (r) => String(r.authorization))).toEqual({
        load_client_0: 20,
        load_client_1: 20,
        load_client_2: 20,
        load_client_3: 20,
        load_client_4: 20,
      });
      const body = JSON.parse(rec.received[0].body.toString());
      expect(rec.received[0].contentType).toBe('application/json');
      expect(body.metrics).toHaveLength(1);
      expect(body.metrics[0]).toMatchObject({ name: 'cpu', value: expect.any(Number), tags: { host: 'a' } });
      expect(Number.isInteger(body.metrics[0].timestamp)).toBe(true);
    } finally {
      await rec.close();
    }
  });

  it('--format msgpack --metrics-per-request 3 sends msgpack bodies of 3 metrics, counts metrics/s', async () => {
    const rec = await recordingServer();
    try {
      const run = await runLoadCli([
        '--port', String(rec.port), '--clients', '2', '--requests', '3',
        '--format', 'msgpack', '--metrics-per-request', '3', '--json',
      ]);
      expect(run.code).toBe(0);
      expect(rec.received).toHaveLength(6);
      for (const r of rec.received) {
        expect(r.contentType).toBe('application/msgpack');
        const body = unpack(r.body) as { metrics: { name: string; tags: Record<string, string> }[] };
        expect(body.metrics).toHaveLength(3);
        expect(body.metrics[0].tags).toEqual({ host: 'a' });
      }
      const s = JSON.parse(run.stdout) as LoadSummary;
      expect(s.metricsPerRequest).toBe(3);
      expect(s.metricsPerSecond / s.requestsPerSecond).toBeCloseTo(3, 1);
    } finally {
      await rec.close();
    }
  });

  it('counts non-2xx answers against the success rate, by status code', async () => {
    const rec = await recordingServer((id) => (id === 'load_client_1' ? 503 : 200));
    try {
      const run = await runLoadCli(['--port', String(rec.port), '--clients', '4', '--requests', '10', '--json']);
      expect(run.code).toBe(0);
      const s = JSON.parse(run.stdout) as LoadSummary;
      expect(s.total).toBe(40);
      expect(s.succeeded).toBe(30);
      expect(s.successRate).toBe(0.75);
      expect(s.statusCodes).toEqual({ '200': 30, '503': 10 });
    } finally {
      await rec.close();
    }
  });

  it('counts a request whose connection the server closed as a failure, not as nothing', async () => {
    const rec = await recordingServer((id, nth) => (id === 'load_client_2' && nth === 3 ? 'drop' : 200));
    try {
      const run = await runLoadCli(['--port', String(rec.port), '--clients', '4', '--requests', '10', '--json']);
      expect(run.code).toBe(0);
      const s = JSON.parse(run.stdout) as LoadSummary;
      expect(s.sent).toBe(40);
      expect(s.total).toBe(40);
      expect(s.succeeded).toBe(39);
      expect(s.successRate).toBe(39 / 40);
      // autocannon sees either a reset (an error) or a clean close (unanswered).
      expect(s.errors + s.unanswered).toBe(1);
      expect(rec.received.filter((r) => r.authorization === 'load_client_2')).toHaveLength(10);
    } finally {
      await rec.close();
    }
  });
});

describe('npm run load: interrupting', () => {
  it('Ctrl-C (SIGINT) ends a run early and still prints the summary', async () => {
    let firstRequest!: () => void;
    const gotRequest = new Promise<void>((resolve) => (firstRequest = resolve));
    const rec = await recordingServer(() => {
      firstRequest();
      return 200;
    });
    try {
      const child = spawn(
        process.execPath,
        ['--import', './src/main/require-node.mjs', 'src/load/cli.ts', '--port', String(rec.port), '--clients', '2', '--duration', '600', '--json'],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d));
      await gotRequest;
      child.kill('SIGINT');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      const s = JSON.parse(stdout) as LoadSummary;
      expect(s.aborted).toBe(true);
      expect(s.succeeded).toBeGreaterThan(0);
      expect(s.successRate).toBe(1);
    } finally {
      await rec.close();
    }
  });
});

describe('npm run load: command line errors', () => {
  it.each([
    [['--port', '1', '--bogus']],
    [['--clients', '5']],
    [['--port', '1', '--requests', '0']],
    [['--port', '1', '--clients', 'many']],
    [['--port', '1', '--requests', '5', '--duration', '5']],
    [['--port', '1', '--duration', '-1']],
    [['--port', '1', '--format', 'xml']],
    [['--port', '70000']],
    [['--port', '1', 'extra']],
  ])('rejects %j with exit 2 and the usage', async (args) => {
    const run = await runLoadCli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Usage: npm run load');
    expect(run.stdout).toBe('');
  });

  it('--help prints the usage and exits 0', async () => {
    const run = await runLoadCli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--metrics-per-request');
  });

  it('exits 1 with errors counted when nothing listens on the port', async () => {
    const port = await unusedPort();
    const run = await runLoadCli(['--port', String(port), '--clients', '2', '--requests', '3', '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no request was answered');
    const s = JSON.parse(run.stdout) as LoadSummary;
    expect(s.responses).toBe(0);
    expect(s.successRate).toBe(0);
    expect(s.errors).toBeGreaterThan(0);
  });
});
