/**
 * A real Kafka-protocol cluster for dev and tests: librdkafka's mock cluster, kept alive by
 * Debian's `kcat` (`kcat -b localhost:1 -X test.mock.num.brokers=N -C -t <keepalive>`),
 * fronted by our KafkaProxy (test/support/kafka-proxy.ts) so tests can cut the cluster off
 * and bring it back at the same addresses, and so the idempotent producer can start
 * (the mock reports a controller that does not exist; the proxy fixes that).
 *
 * What the mock can and cannot do (librdkafka 2.0.2, Debian bookworm):
 * - Topics are auto-created on first Metadata request with 4 partitions, replication
 *   min(3, brokers). There is no config property to change that, and CreateTopics is not
 *   implemented, so a topic always has 4 partitions: the gateway default.
 * - Its brokers listen on random ports; a new kcat is a new, empty cluster. "The broker
 *   comes back" is therefore done with the proxy (cut/restore), not by restarting kcat.
 * - Data lives in kcat's memory: stop or kill loses it.
 *
 * CLI: `npm run kafka:local [-- --port 9092 --brokers 3 --topic metrics --latency 1ms --no-proxy --debug]`
 * prints `bootstrap servers: host:port,...` and runs until Ctrl-C (`--help` for the text).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { KafkaProxy, type BrokerAddress } from './kafka-proxy.ts';
import { parseDuration, parseInteger, UsageError } from '../../src/cli/args.ts';

const { Kafka, logLevel } = kafkajs;

/** The topic kcat consumes only to keep the mock cluster alive. */
export const KEEPALIVE_TOPIC = '__local_broker_keepalive';

/** Message thrown when kcat is not installed. */
export const KCAT_MISSING = 'kcat missing: run .ci/install-debian-packages';

export interface LocalBrokerOptions {
  /** Number of mock brokers (default 3). */
  brokers?: number;
  /** A topic to create (4 partitions) before returning. */
  topic?: string;
  /** Front the mock with KafkaProxy (default true). */
  proxy?: boolean;
  /**
   * The proxy's first port: broker i is served on port + i, so a restarted local broker
   * comes back at the same bootstrap address (default: random free ports). Needs the proxy.
   */
  port?: number;
  /** The proxy holds every frame this long in each direction (default 0). Needs the proxy. */
  latencyMs?: number;
  /** Give up if the cluster does not answer Metadata within this time (default 15 s). */
  readyTimeoutMs?: number;
  /** Pass `-d mock` to kcat: every request is logged on our stderr tail. */
  debug?: boolean;
}

export interface LocalBroker {
  /** What clients should use: the proxy's addresses, or the mock's when proxy is off. */
  bootstrap: string;
  /** The mock brokers' own addresses (bypass the proxy, e.g. for kcat -C or benches). */
  mockBootstrap: string;
  /** The proxy, for fault injection (null when started with proxy: false). */
  proxy: KafkaProxy | null;
  /** kcat's pid. */
  pid: number;
  /** Resolves when kcat has exited, with its status as bash reports it (128 + signal when killed). */
  exited: Promise<number | null>;
  /** Last lines kcat wrote on stderr, for diagnostics. */
  stderrTail(): string;
  /** SIGTERM kcat, wait for it, close the proxy. Data is gone afterwards. */
  stop(): Promise<void>;
  /** SIGKILL kcat at once (the cluster dies; the proxy keeps listening and resets). */
  kill(): void;
}

// Runs kcat under a tiny bash guard: when our process dies, its end of the guard's stdin
// closes, `cat` returns and kcat is terminated. No orphaned mock cluster on a crashed test
// run. The guard prints kcat's pid so kill() can SIGKILL kcat itself.
const GUARD = `kcat "$@" </dev/null &
k=$!
echo "kcat-pid $k"
( cat >/dev/null; kill -TERM "$k" 2>/dev/null ) <&0 &
wait "$k"`;

/** Throws KCAT_MISSING unless `kcat` runs. */
export function assertKcat(): void {
  try {
    execFileSync('kcat', ['-V'], { stdio: 'ignore' });
  } catch {
    throw new Error(KCAT_MISSING);
  }
}

function parseAddresses(list: string): BrokerAddress[] {
  return list.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
  });
}

/** Polls Metadata (creating `topic`) until the cluster answers or the deadline passes. */
async function waitForMetadata(bootstrap: string, topic: string, deadline: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'local-broker-probe',
    brokers: bootstrap.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
  });
  let last: unknown;
  while (Date.now() < deadline) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const md = await admin.fetchTopicMetadata({ topics: [topic] });
      if (md.topics[0]?.partitions.every((p) => p.leader >= 0)) return;
    } catch (e) {
      last = e;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`mock cluster did not answer Metadata in time: ${String(last)}`);
}

/**
 * Starts a mock cluster (and the proxy in front of it) and resolves once a kafkajs admin
 * fetched metadata through `bootstrap`. Throws KCAT_MISSING when kcat is not installed.
 */
export async function startLocalBroker(opts: LocalBrokerOptions = {}): Promise<LocalBroker> {
  if (opts.port !== undefined && opts.proxy === false) throw new Error('a fixed port needs the proxy (the mock brokers pick their own ports)');
  if (opts.latencyMs && opts.proxy === false) throw new Error('latency is added by the proxy: it needs the proxy');
  assertKcat();
  const brokers = opts.brokers ?? 3;
  const args = ['-b', 'localhost:1', '-X', `test.mock.num.brokers=${brokers}`, '-q'];
  if (opts.debug) args.push('-d', 'mock');
  args.push('-C', '-t', KEEPALIVE_TOPIC);
  const child: ChildProcess = spawn('bash', ['-c', GUARD, 'kcat-guard', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let tail: string[] = [];
  let kcatPid = 0;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      child.stdin?.destroy(); // lets the guard's watcher end
      resolve(code);
    }),
  );

  const mockBootstrap = await new Promise<string>((resolve, reject) => {
    let buf = '';
    let found = false;
    const timer = setTimeout(() => reject(new Error(`kcat printed no bootstrap servers:\n${buf}`)), 10_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const m = /kcat-pid (\d+)/.exec(d);
      if (m) kcatPid = Number(m[1]);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      // keep draining: a full pipe would block kcat
      tail = tail.concat(d.split('\n')).slice(-50);
      if (found) return;
      buf += d;
      const m = /(?:bootstrap\.servers=|replaced with )(\S+:\d+(?:,\S+:\d+)*)/.exec(buf);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`kcat exited (${code}) before the mock cluster started:\n${buf}`));
    });
  });
  while (kcatPid === 0) await new Promise((r) => setTimeout(r, 5));

  const kill = (): void => {
    try {
      process.kill(kcatPid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  // A test that forgets stop() must not leave kcat behind when the process ends normally.
  process.once('exit', kill);

  let proxy: KafkaProxy | null = null;
  try {
    if (opts.proxy !== false) {
      const upstreams = parseAddresses(mockBootstrap);
      proxy = await KafkaProxy.start(upstreams, {
        ports: opts.port === undefined ? undefined : upstreams.map((_, i) => opts.port! + i),
        latencyMs: opts.latencyMs,
        onWarning: (m) => process.stderr.write(`kafka-proxy: ${m}\n`),
      });
    }
    const bootstrap = proxy ? proxy.bootstrap : mockBootstrap;
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
    await waitForMetadata(bootstrap, opts.topic ?? KEEPALIVE_TOPIC, deadline);

    return {
      bootstrap,
      mockBootstrap,
      proxy,
      pid: kcatPid,
      exited,
      stderrTail: () => tail.join('\n'),
      kill,
      async stop() {
        try {
          process.kill(kcatPid, 'SIGTERM');
        } catch {
          // already gone
        }
        const timer = setTimeout(kill, 5000);
        await exited;
        clearTimeout(timer);
        process.off('exit', kill);
        await proxy?.close();
      },
    };
  } catch (e) {
    kill();
    await proxy?.close();
    throw e;
  }
}

export const LOCAL_BROKER_USAGE = `Usage: npm run kafka:local -- [options]

A local Kafka-protocol cluster for development and tests: librdkafka's mock cluster (Debian's
kcat) behind a small proxy of ours on 127.0.0.1. Prints "bootstrap servers: host:port,..." and
runs until Ctrl-C or SIGTERM. Data lives in memory only: a restart is an empty cluster. Topics
are auto-created with 4 partitions (the gateway's default --partitions).

Options:
  --port N        serve broker i on port N+i (N, N+1, N+2 with 3 brokers), so a restarted
                  local broker comes back at the same address (default: random free ports)
  --brokers N     number of mock brokers (default 3)
  --topic NAME    create this topic before printing the address
  --latency D     the proxy holds every frame D (e.g. 1ms) in each direction: a broker
                  D away, a round trip of at least 2 x D (default 0); prints how long
                  frames actually waited when stopped
  --no-proxy      print the mock brokers' own addresses (random ports; no --port)
  --debug         log every request the mock cluster handles (kcat -d mock) on stderr
  -h, --help      this text
`;

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        brokers: { type: 'string', default: '3' },
        topic: { type: 'string' },
        latency: { type: 'string' },
        'no-proxy': { type: 'boolean', default: false },
        debug: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`kafka:local: ${(e as Error).message}\n\n${LOCAL_BROKER_USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(LOCAL_BROKER_USAGE);
    return;
  }
  let port: number | undefined;
  let brokers: number;
  let latencyMs = 0;
  try {
    if (values.latency !== undefined) latencyMs = parseDuration('latency', values.latency);
    if (latencyMs > 0 && values['no-proxy']) throw new UsageError('--latency needs the proxy: drop --no-proxy');
    brokers = parseInteger('brokers', values.brokers, 1, 16);
    if (values.port !== undefined) port = parseInteger('port', values.port, 1, 65535 - brokers + 1);
    if (port !== undefined && values['no-proxy']) throw new UsageError('--port needs the proxy: drop --no-proxy');
  } catch (e) {
    process.stderr.write(`kafka:local: ${(e as Error).message}\nTry --help.\n`);
    process.exit(2);
  }
  const broker = await startLocalBroker({
    brokers,
    topic: values.topic,
    proxy: !values['no-proxy'],
    port,
    latencyMs,
    debug: values.debug,
  });
  // Handlers first: whoever read the address may signal at once, before the next line ran.
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (latencyMs > 0 && broker.proxy) {
      const d = broker.proxy.delayStats();
      process.stdout.write(`proxy latency: ${d.frames} frames delayed, mean ${d.meanMs.toFixed(2)} ms, max ${d.maxMs.toFixed(1)} ms each way\n`);
    }
    void broker.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.write(`bootstrap servers: ${broker.bootstrap}\n`);
  if (broker.proxy) process.stdout.write(`mock brokers (direct, no proxy): ${broker.mockBootstrap}\n`);
  process.stdout.write(`topics are auto-created with 4 partitions; Ctrl-C stops (data is in memory only)\n`);
  void broker.exited.then((code) => {
    if (stopping) return;
    process.stderr.write(`kcat exited unexpectedly (${code}):\n${broker.stderrTail()}\n`);
    process.exit(1);
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
