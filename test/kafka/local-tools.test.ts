/**
 * The command-line tools around Kafka: `npm run kafka:local` (--help, and --port so a
 * restarted local broker comes back at the same address) and `npm run consume -- --mode
 * kafka` without --group (reads the topic plainly).
 */
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { startLocalBroker } from '../support/local-broker.ts';
import { ROOT } from '../support/gateway-process.ts';
import { runConsumer } from '../consumer/helpers.ts';

const { Kafka, logLevel } = kafkajs;

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Runs the kafka:local CLI until it printed its bootstrap servers; stop() SIGTERMs it. */
async function localBrokerCli(args: string[]): Promise<{ bootstrap: string; stop(): Promise<number | null> }> {
  const proc = spawn(process.execPath, ['--import', './src/main/require-node.mjs', 'test/support/local-broker.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const bootstrap = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).on('line', (l) => {
      const m = /^bootstrap servers: (\S+)/.exec(l);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`kafka:local exited ${code}: ${stderr}`)));
  });
  return {
    bootstrap,
    stop: () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

describe('npm run kafka:local', () => {
  it('--help prints the options and exits 0 (through the npm script)', () => {
    const r = spawnSync('npm', ['run', '--silent', 'kafka:local', '--', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: npm run kafka:local');
    expect(r.stdout).toContain('--port N');
  });

  it('a bad flag exits 2 with the help', () => {
    const r = spawnSync(process.execPath, ['test/support/local-broker.ts', '--bogus'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Usage: npm run kafka:local');
  });

  it('--latency: a bad duration, or latency without the proxy, exits 2 saying why', () => {
    for (const [args, why] of [
      [['--latency', 'soon'], 'is not a duration'],
      [['--latency', '1ms', '--no-proxy'], '--latency needs the proxy'],
    ] as const) {
      const r = spawnSync(process.execPath, ['test/support/local-broker.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(why);
    }
  });

  it('--port: a restarted local broker comes back at the same address and answers there', async () => {
    const port = await freePort();
    const first = await localBrokerCli(['--brokers', '1', '--port', String(port)]);
    expect(first.bootstrap).toBe(`127.0.0.1:${port}`);
    expect(await first.stop()).toBe(0);
    const second = await localBrokerCli(['--brokers', '1', '--port', String(port), '--topic', 'metrics']);
    try {
      expect(second.bootstrap).toBe(`127.0.0.1:${port}`);
      const admin = new Kafka({ brokers: [second.bootstrap], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const md = await admin.fetchTopicMetadata({ topics: ['metrics'] });
        expect(md.topics[0].partitions).toHaveLength(4);
      } finally {
        await admin.disconnect();
      }
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });
});

describe('npm run consume -- --mode kafka without --group', () => {
  it('reads the whole topic plainly (no group given), exits at the end, no TimeoutNegativeWarning', async () => {
    const broker = await startLocalBroker({ brokers: 1 });
    const topic = `plain-${randomUUID().slice(0, 8)}`;
    const producer = new Kafka({ brokers: broker.bootstrap.split(','), logLevel: logLevel.NOTHING }).producer();
    try {
      await producer.connect();
      await producer.send({
        topic,
        messages: Array.from({ length: 40 }, (_, i) => ({
          key: `client-${i}`,
          value: pack({ metrics: [{ name: 'cpu', value: i }], seq: i }),
          headers: { 'content-type': 'application/msgpack' },
          partition: i % 4,
        })),
      });
      const r = await runConsumer(['--mode', 'kafka', '--brokers', broker.bootstrap, '--topic', topic, '--from-beginning', '--exit-at-end']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines.map((l) => l.value.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(r.stderr).not.toContain('needs --group');
      expect(r.stderr).not.toContain('TimeoutNegativeWarning');
    } finally {
      await producer.disconnect();
      await broker.stop();
    }
  });
});
