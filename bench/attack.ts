/**
 * Overload attacks against a gateway started here, with a small legitimate load beside
 * them: the gateway's RSS once a second and the legitimate clients' latency are what the
 * run reports (issue 9's figures).
 *
 *   node --import ./src/main/require-node.mjs bench/attack.ts --attack stall --duration 60
 *   node --import ./src/main/require-node.mjs bench/attack.ts --attack bodies --duration 60
 *   node --import ./src/main/require-node.mjs bench/attack.ts --attack bombs --connections 8 --duration 30
 *   node --import ./src/main/require-node.mjs bench/attack.ts --attack idle --duration 60
 *   node --import ./src/main/require-node.mjs bench/attack.ts --attack slow-read --connections 50 --duration 60
 *   node --import ./src/main/require-node.mjs bench/attack.ts --attack idle --tls --connections 3000 --duration 30
 *   node --import ./src/main/require-node.mjs bench/attack.ts --attack idle --target admin --connections 19990 --duration 30
 *   node --import ./src/main/require-node.mjs bench/attack.ts --attack none --duration 20
 *   ... [--connections 800] [--body-bytes 1000000] [--legit 4] [--workers 2] [--reconnect-ms 50]
 *       [--root DIR] [--tls] [--target data|admin] [-- gateway flags]
 *
 * --tls serves HTTPS, with a certificate made here by `openssl`; the legitimate clients
 * then use HTTPS, and the attackers' raw sockets never start a handshake (with `idle`,
 * connections that send no ClientHello).
 *
 * --target admin points the raw-socket attacks (stall, idle, pipeline, chunks) at the admin
 * port (the gateway then serves one, --admin-port 0) instead of the data port; the
 * legitimate clients stay on the data port. The admin port is served by the owner thread
 * and shares the process's descriptors: what an attack on it costs ingestion.
 *
 * --root runs the gateway of another checkout (e.g. an export of an older commit with
 * node_modules linked in), to compare before and after with the same attack.
 *
 * Attacks:
 * - stall:  N sockets each declare a body of --body-bytes and send all of it but one byte,
 *           then wait; whenever the server closes one, it comes back 50 ms later (the
 *           issue's "800 connections each sending 1 MB minus one byte").
 * - bodies: autocannon, N connections POSTing --body-bytes of JSON with a wrong shape
 *           (each read in full, parsed and refused with 400).
 * - bombs:  autocannon, N connections POSTing a gzip bomb (16 MiB of zeros in 16 KB) whose
 *           trailer hides its size (one that states it is refused unread), each refused
 *           with 413 once --max-decoded-body is decoded.
 * - idle:   N sockets that connect and send nothing; reconnect 50 ms after a close.
 * - pipeline: N sockets that never read: each pipelines valid 1-metric POSTs for as long
 *           as the gateway takes them (HTTP/1.1 pipelining), so answers pile up unread
 *           in both ends' socket buffers; reconnect 50 ms after a close.
 * - chunks: N sockets each POSTing a valid body of --body-bytes in 1-byte chunks
 *           (Transfer-Encoding: chunked, six bytes on the wire per body byte), then
 *           closing once answered; back 50 ms after each close.
 * - slow-read: N sockets each asking for 16 answers of --body-bytes (default 4 MiB) at
 *           once, within the pipelining limit, and reading what one read gets once a
 *           second: far less than the answers, so both ends' socket buffers stay full and
 *           the gateway keeps answers it cannot send; back 50 ms after each close. The
 *           answers come from the test hook GET /__test/large (the gateway runs with
 *           METRICSTREAM_TEST_HOOKS=1 for this attack only): a client gets there with
 *           any answers, health checks say, only after some 200,000 of them.
 * - scrape: autocannon, N connections (use --connections 20) GETting the admin /metrics
 *           as fast as they can (the gateway is started with --admin-port 0).
 * - none:   the legitimate load alone (the baseline).
 * The legitimate load: --legit clients in this process, each sending one request at a
 * time (1 metric) on a keep-alive connection, reconnecting when the server closes it,
 * for the attack's duration minus 4 s, starting 2 s in. Latency is measured per request
 * from its send to its answer (any status); failed connections are counted apart. The
 * attacker runs in a child process of its own. Beside the RSS, once a second: the bytes
 * the gateway's sockets have queued in the kernel and not had acknowledged (/proc/net/tcp),
 * the memory the kernel gives all of TCP on this machine, the attacker's side included
 * (/proc/net/sockstat), and the gateway's open descriptors.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { oneOf, parseInteger } from '../src/cli/args.ts';
import { autocannon } from '../src/load/autocannon.ts';
import { hiddenGzipBomb } from './hostile-bodies.ts';
import { loopbackTcpRows } from '../test/support/socket-queues.ts';
import { GATEWAY_NODE_FLAGS } from '../src/main/node-flags.ts';
import http from 'node:http';
import https from 'node:https';

const { values, positionals } = parseArgs({
  options: {
    attack: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    'body-bytes': { type: 'string' },
    legit: { type: 'string' },
    tls: { type: 'boolean' },
    target: { type: 'string' },
    workers: { type: 'string' },
    'reconnect-ms': { type: 'string' },
    root: { type: 'string' },
    // Internal: this script re-runs itself as the attacker process (--role attacker --port P),
    // so the attacker's event loop never delays the legitimate clients' measurements.
    role: { type: 'string' },
    port: { type: 'string' },
    'admin-port': { type: 'string' },
  },
  allowPositionals: true,
});
const attack = oneOf('attack', values.attack ?? 'stall', ['stall', 'bodies', 'bombs', 'idle', 'pipeline', 'chunks', 'slow-read', 'scrape', 'none'] as const);
const target = oneOf('target', values.target ?? 'data', ['data', 'admin'] as const);
if (target === 'admin' && !['stall', 'idle', 'pipeline', 'chunks'].includes(attack)) throw new Error(`--target admin: only the stall, idle, pipeline and chunks attacks (not ${attack})`);
const duration = parseInteger('duration', values.duration ?? '60', 8, 3600);
const connections = parseInteger('connections', values.connections ?? (attack === 'idle' ? '4000' : '800'), 1, 100_000);
const bodyBytes = parseInteger('body-bytes', values['body-bytes'] ?? String(attack === 'slow-read' ? 4 << 20 : 1_000_000), 16, 64 * 1024 * 1024);
const legit = parseInteger('legit', values.legit ?? '4', 1, 1000);
const workers = parseInteger('workers', values.workers ?? '2', 1, 64);
const reconnectMs = parseInteger('reconnect-ms', values['reconnect-ms'] ?? '50', 0, 60_000);
const ROOT = path.resolve(values.root ?? path.join(import.meta.dirname, '..'));

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  // NaN once the process is gone (a zombie has no VmRSS line).
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

if (values.role === 'attacker') {
  const port = parseInteger('port', values.port ?? '0', 1, 65535);
  const attackerStatuses = new Map<string, number>();
  const countStatus = (s: string) => attackerStatuses.set(s, (attackerStatuses.get(s) ?? 0) + 1);
  let stopping = false;

  /** One raw attacker socket that reconnects 50 ms after each close; `neverRead`: not one byte. */
  function rawAttacker(payload: (socket: net.Socket) => void, neverRead = false): void {
    if (stopping) return;
    const socket = net.connect(port, '127.0.0.1');
    // Paused before it connects, a Node socket never starts reading.
    if (neverRead) socket.pause();
    let seen = '';
    socket.on('connect', () => payload(socket));
    socket.on('data', (d) => {
      if (seen.length < 16) {
        seen += d.toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(seen);
        if (m) {
          countStatus(m[1]);
          seen = 'x'.repeat(16);
        }
      }
    });
    socket.on('error', () => countStatus('socket error'));
    socket.on('close', () => setTimeout(() => rawAttacker(payload, neverRead), reconnectMs));
  }

  let cannon: ReturnType<typeof autocannon> | undefined;
  if (attack === 'stall') {
    const almost = Buffer.alloc(bodyBytes - 1, 0x20);
    for (let i = 0; i < connections; i++) {
      rawAttacker((s) => {
        s.write(`POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: attacker\r\nContent-Type: application/json\r\nContent-Length: ${bodyBytes}\r\n\r\n`);
        s.write(almost);
      });
    }
  } else if (attack === 'idle') {
    for (let i = 0; i < connections; i++) rawAttacker(() => {});
  } else if (attack === 'chunks') {
    const json = JSON.stringify({ metrics: [{ name: 'chunky', value: 1, tags: { pad: 'x'.repeat(Math.max(0, bodyBytes - 64)) } }] });
    const chunked = Buffer.from(
      `POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: attacker\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
        Array.from(json, (ch) => `1\r\n${ch}\r\n`).join('') +
        '0\r\n\r\n',
      'latin1',
    );
    for (let i = 0; i < connections; i++) {
      rawAttacker((s) => {
        s.write(chunked);
        // One answer, then a new connection.
        s.once('data', () => s.destroy());
      });
    }
  } else if (attack === 'pipeline') {
    const body = '{"metrics":[{"name":"pipelined","value":1}]}';
    const request = Buffer.from(`POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: attacker\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const batch = Buffer.concat(Array.from({ length: 64 }, () => request));
    for (let i = 0; i < connections; i++) {
      rawAttacker((s) => {
        // Never read: the answers fill this socket's receive buffer, then the gateway's send buffer.
        s.pause();
        const more = (): void => {
          while (!s.destroyed && s.write(batch));
        };
        s.on('drain', more);
        more();
      });
    }
  } else if (attack === 'slow-read') {
    const requests = Buffer.from(`GET /__test/large?bytes=${bodyBytes} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(16));
    for (let i = 0; i < connections; i++) {
      rawAttacker((s) => {
        s.write(requests);
        // A trickle: one read a second. It keeps the connection's buffers full, and lets
        // this socket see the gateway's reset (a socket that never reads never would).
        const trickle = setInterval(() => {
          s.resume();
          setImmediate(() => s.pause());
        }, 1000);
        s.once('close', () => clearInterval(trickle));
      }, true);
    }
  } else if (attack === 'scrape') {
    cannon = autocannon({
      url: `http://127.0.0.1:${parseInteger('admin-port', values['admin-port'] ?? '0', 1, 65535)}/metrics`,
      method: 'GET' as 'POST',
      body: Buffer.alloc(0),
      headers: {},
      connections,
      duration,
      timeout: 30,
      sampleInt: 1000,
      setupClient: () => {},
    });
  } else if (attack === 'bombs') {
    cannon = autocannon({
      url: `http://127.0.0.1:${port}/metrics`,
      method: 'POST',
      body: hiddenGzipBomb(),
      headers: { authorization: 'attacker', 'content-type': 'application/json', 'content-encoding': 'gzip' },
      connections,
      duration: duration + 10,
      timeout: 30,
      sampleInt: 1000,
      setupClient: () => {},
    });
  } else if (attack === 'bodies') {
    const value = 'x'.repeat(bodyBytes - 64);
    cannon = autocannon({
      url: `http://127.0.0.1:${port}/metrics`,
      method: 'POST',
      body: Buffer.from(`{"metrics":[{"name":"a","value":"${value}"}]}`),
      headers: { authorization: 'attacker', 'content-type': 'application/json' },
      connections,
      duration: duration + 10,
      timeout: 30,
      sampleInt: 1000,
      setupClient: () => {},
    });
  }


  const finish = async () => {
    stopping = true;
    cannon?.stop();
    const result = cannon ? await cannon : undefined;
    const statuses = result
      ? { statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([k, v]) => [k, v.count])), errors: result.errors, timeouts: result.timeouts }
      : Object.fromEntries(attackerStatuses);
    process.stdout.write(JSON.stringify(statuses) + '\n', () => process.exit(0));
  };
  process.once('SIGTERM', () => void finish());
  // Alive until the parent's SIGTERM, even once autocannon's own duration has passed;
  // and never on to the code below, which would start a gateway and an attacker of its own.
  setInterval(() => {}, 1000);
  await new Promise<never>(() => {});
}

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'metricstream-attack-'));
/** --tls: a self-signed certificate for 127.0.0.1, in a temp dir of its own. */
const tlsFiles = values.tls ? await selfSignedCertificate() : undefined;

async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'metricstream-attack-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { cert, key };
}
const gateway = spawn(
  process.execPath,
  [...GATEWAY_NODE_FLAGS, '--import', './src/main/require-node.mjs', 'src/main/cli.ts', '--port', '0', '--host', '127.0.0.1', '--admin-port', attack === 'scrape' || target === 'admin' ? '0' : 'off', '--workers', String(workers), '--data-dir', dataDir, '--log-level', 'warn', ...(tlsFiles ? ['--tls-cert', tlsFiles.cert, '--tls-key', tlsFiles.key] : []), ...positionals],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: attack === 'slow-read' ? { ...process.env, METRICSTREAM_TEST_HOOKS: '1' } : process.env },
);
const warnings = new Map<string, number>();
let adminPort: number | undefined;
const port = await new Promise<number>((resolve, reject) => {
  readline.createInterface({ input: gateway.stdout! }).on('line', (line) => {
    try {
      const entry = JSON.parse(line) as { msg: string; port?: number; adminPort?: number; what?: string; count?: number };
      if (entry.msg.includes('listening on')) {
        adminPort = entry.adminPort;
        resolve(entry.port!);
      }
      else warnings.set(entry.what ?? entry.msg, (warnings.get(entry.what ?? entry.msg) ?? 0) + (entry.count ?? 1));
    } catch {
      // not a log line
    }
  });
  gateway.once('exit', (code) => reject(new Error(`gateway exited ${code}`)));
});
/** The port the raw-socket attacks connect to. */
const attackedPort = target === 'admin' ? adminPort! : port;

/** Bytes the gateway's sockets (local port `port`) hold in the kernel, sent or not, unacknowledged. */
async function gatewaySendQueueMiB(port: number): Promise<number> {
  let bytes = 0;
  for (const row of loopbackTcpRows(await readFile('/proc/net/tcp', 'latin1'))) if (row.localPort === port) bytes += row.sendQueue;
  return bytes / 2 ** 20;
}

/** What the kernel gives all of TCP on this machine (pages of 4 KiB in /proc/net/sockstat). */
async function tcpMemoryMiB(): Promise<number> {
  return (Number(/TCP: .* mem (\d+)/.exec(await readFile('/proc/net/sockstat', 'latin1'))?.[1] ?? NaN) * 4096) / 2 ** 20;
}

/** Descriptors the gateway process has open (sockets, files). */
async function descriptors(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

const rss: { t: number; mib: number; sendQueueMiB: number; tcpMiB: number; fds: number }[] = [];
const start = performance.now();
rss.push({ t: 0, mib: await rssMiB(gateway.pid!), sendQueueMiB: await gatewaySendQueueMiB(attackedPort), tcpMiB: await tcpMemoryMiB(), fds: await descriptors(gateway.pid!) });
const sampler = setInterval(async () => {
  const t = Math.round((performance.now() - start) / 1000);
  const mib = await rssMiB(gateway.pid!).catch(() => NaN);
  if (Number.isFinite(mib) && gateway.exitCode === null) rss.push({ t, mib, sendQueueMiB: await gatewaySendQueueMiB(attackedPort), tcpMiB: await tcpMemoryMiB(), fds: await descriptors(gateway.pid!).catch(() => NaN) });
}, 1000);

/** The legitimate clients: sequential requests per client, latency of each answer. */
async function legitLoad(port: number, clients: number, ms: number) {
  const ca = tlsFiles ? await readFile(tlsFiles.cert) : undefined;
  const agent = ca ? new https.Agent({ keepAlive: true, maxSockets: clients, ca }) : new http.Agent({ keepAlive: true, maxSockets: clients });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  const until = performance.now() + ms;
  const one = (client: number) =>
    new Promise<void>((resolve) => {
      const body = JSON.stringify({ metrics: [{ name: 'legit', value: 1, tags: { client: String(client) } }] });
      const sent = performance.now();
      const req = (ca ? https : http).request(
        { host: '127.0.0.1', port, path: '/metrics', method: 'POST', agent, timeout: 30_000, headers: { authorization: `legit_${client}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - sent);
            statuses[res.statusCode!] = (statuses[res.statusCode!] ?? 0) + 1;
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        setTimeout(resolve, 10);
      });
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < until) await one(c);
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => +(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0).toFixed(2);
  return {
    requestsPerSecond: Math.round(latencies.length / (ms / 1000)),
    latencyMs: { p50: at(0.5), p99: at(0.99), max: at(1) },
    statusCodes: statuses,
    connectionErrors: errors,
  };
}

const attacker =
  attack === 'none'
    ? undefined
    : spawn(
        process.execPath,
        ['--disable-warning=TimeoutNegativeWarning', '--import', path.join(import.meta.dirname, '../src/main/require-node.mjs'), import.meta.filename, '--role', 'attacker', '--port', String(attackedPort), '--attack', attack, '--duration', String(duration), '--connections', String(connections), '--body-bytes', String(bodyBytes), '--reconnect-ms', String(reconnectMs), '--admin-port', String(adminPort ?? 0)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
let attackerOutput = '';
attacker?.stdout!.on('data', (d) => (attackerOutput += d));
const attackerDone = attacker ? new Promise((resolve) => attacker.once('exit', resolve)) : Promise.resolve();
await new Promise((r) => setTimeout(r, 2000));
const legitSummary = await legitLoad(port, legit, (duration - 4) * 1000);
await new Promise((r) => setTimeout(r, Math.max(0, duration * 1000 - (performance.now() - start))));
attacker?.kill('SIGTERM');
await attackerDone;
clearInterval(sampler);
gateway.kill('SIGKILL');
await rm(dataDir, { recursive: true, force: true });
if (tlsFiles) await rm(path.dirname(tlsFiles.cert), { recursive: true, force: true });

const byTen = rss.filter((s) => s.t % 10 === 0);
const max = Math.max(...rss.map((s) => s.mib));
console.log(
  JSON.stringify(
    {
      attack,
      durationSeconds: duration,
      attackerConnections: attack === 'none' ? 0 : connections,
      bodyBytes: attack === 'stall' || attack === 'bodies' || attack === 'chunks' || attack === 'slow-read' ? bodyBytes : undefined,
      workers,
      reconnectMs: attack === 'stall' || attack === 'idle' || attack === 'pipeline' || attack === 'chunks' || attack === 'slow-read' ? reconnectMs : undefined,
      root: values.root,
      tls: values.tls === true,
      target,
      gatewayFlags: positionals,
      rssMiB: {
        start: +rss[0].mib.toFixed(1),
        max: +max.toFixed(1),
        every10s: byTen.map((s) => `${s.t}s ${s.mib.toFixed(0)}`),
        last: +rss[rss.length - 1].mib.toFixed(1),
      },
      kernel: {
        gatewaySendQueueMiB: { max: +Math.max(...rss.map((s) => s.sendQueueMiB)).toFixed(1), last: +rss[rss.length - 1].sendQueueMiB.toFixed(1) },
        tcpMemoryMiB: { max: +Math.max(...rss.map((s) => s.tcpMiB)).toFixed(1), last: +rss[rss.length - 1].tcpMiB.toFixed(1) },
        gatewayDescriptors: { max: Math.max(...rss.map((s) => s.fds)), last: rss[rss.length - 1].fds, every10s: byTen.map((s) => `${s.t}s ${s.fds}`) },
        every10s: byTen.map((s) => `${s.t}s send queue ${s.sendQueueMiB.toFixed(0)}, TCP ${s.tcpMiB.toFixed(0)}`),
      },
      attacker: attackerOutput === '' ? undefined : JSON.parse(attackerOutput),
      legit: { clients: legit, ...legitSummary },
      gatewayWarnings: Object.fromEntries(warnings),
    },
    null,
    2,
  ),
);
process.exit(0);
