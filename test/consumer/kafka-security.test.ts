/**
 * The consumer's Kafka TLS/SASL options, parsed by the same module as the gateway's
 * (src/kafka/kafka-security.ts), reach every kafkajs client it makes. The local mock
 * cluster has neither TLS nor SASL, so what is checked here is what can be locally:
 * - the kafkajs config of the group member, the lag admin and the dead-letter producer
 *   carries `ssl` and `sasl`;
 * - the consumer CLI with --kafka-ssl opens TLS to the broker: a plain TCP listener in
 *   place of the broker sees a TLS ClientHello first, from a sink-mode member and from
 *   --show-lag;
 * - bad flags are usage errors (exit 2) naming the problem.
 */
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { consumerKafkaConfig } from '../../src/consumer/kafka-group-consumer.ts';
import { KafkaDeadLetter } from '../../src/consumer/sinks/dead-letter.ts';
import { deadLetterFor } from '../../src/consumer/sinks/sink-consumer.ts';
import { kafkaSecurityOptions, parseKafkaSecurity } from '../../src/kafka/kafka-security.ts';
import { ROOT } from '../support/gateway-process.ts';

const CLI = ['--import', './src/main/require-node.mjs', 'src/consumer/cli.ts'];

describe('Kafka TLS/SASL in the consumer', () => {
  it('the flags become ssl/sasl in the kafkajs config of the member, the lag admin and the dead-letter producer', () => {
    const security = kafkaSecurityOptions(
      parseKafkaSecurity({ 'kafka-ssl': true, 'kafka-sasl-mechanism': 'scram-sha-512', 'kafka-sasl-username': 'writer' }, { METRICSTREAM_KAFKA_SASL_PASSWORD: 's3cret' }),
    );
    expect(security).toEqual({ ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'writer', password: 's3cret' } });
    expect(consumerKafkaConfig('metricstream-consumer', 'a:9093, b:9093', security)).toEqual({
      clientId: 'metricstream-consumer',
      brokers: ['a:9093', 'b:9093'],
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'writer', password: 's3cret' },
    });
    const dl = deadLetterFor({ mode: 'kafka', brokers: 'a:9093', topic: 'metrics', group: 'g', security }, { type: 'remote-write', url: 'http://127.0.0.1:1/api/v1/write' });
    expect(dl).toBeInstanceOf(KafkaDeadLetter);
    expect((dl as KafkaDeadLetter).topic).toBe('metrics.dead-letter');
    expect((dl as KafkaDeadLetter).config).toMatchObject({ brokers: ['a:9093'], ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'writer' } });
  });

  describe('the CLI', () => {
    let server: net.Server | null = null;
    const children: ReturnType<typeof spawn>[] = [];
    afterEach(async () => {
      for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server = null;
    });

    /** A TCP listener standing in for the broker: resolves with the first bytes a client sends. */
    async function fakeBroker(): Promise<{ port: number; firstBytes: Promise<Buffer> }> {
      let got!: (b: Buffer) => void;
      const firstBytes = new Promise<Buffer>((r) => (got = r));
      server = net.createServer((sock) => {
        sock.once('data', (d: Buffer) => got(d));
        sock.on('error', () => {});
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      return { port: (server.address() as net.AddressInfo).port, firstBytes };
    }

    /** A TLS record of type handshake (0x16), version 3.x: a ClientHello. */
    const isTlsHandshake = (b: Buffer): boolean => b[0] === 0x16 && b[1] === 0x03;

    it('a sink-mode member with --kafka-ssl speaks TLS to the broker', async () => {
      const broker = await fakeBroker();
      children.push(
        spawn(process.execPath, [...CLI, '--mode', 'kafka', '--brokers', `127.0.0.1:${broker.port}`, '--topic', 't', '--group', 'g', '--kafka-ssl',
          '--sink', 'remote-write', '--sink-url', 'http://127.0.0.1:1/api/v1/write', '--log-level', 'silent'], { cwd: ROOT, stdio: 'ignore' }),
      );
      expect(isTlsHandshake(await broker.firstBytes)).toBe(true);
    });

    it('--show-lag with --kafka-ssl speaks TLS to the broker', async () => {
      const broker = await fakeBroker();
      children.push(spawn(process.execPath, [...CLI, '--mode', 'kafka', '--brokers', `127.0.0.1:${broker.port}`, '--group', 'g', '--kafka-ssl', '--show-lag'], { cwd: ROOT, stdio: 'ignore' }));
      expect(isTlsHandshake(await broker.firstBytes)).toBe(true);
    });

    it('without --kafka-ssl the first bytes are a plain Kafka request (a size, then ApiVersions = 18)', async () => {
      const broker = await fakeBroker();
      children.push(spawn(process.execPath, [...CLI, '--mode', 'kafka', '--brokers', `127.0.0.1:${broker.port}`, '--group', 'g', '--show-lag'], { cwd: ROOT, stdio: 'ignore' }));
      const first = await broker.firstBytes;
      expect(first.readInt16BE(4)).toBe(18);
    });

    it('bad security flags are usage errors', () => {
      const run = (...args: string[]) => spawnSync(process.execPath, [...CLI, '--mode', 'kafka', '--brokers', '127.0.0.1:1', '--group', 'g', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, METRICSTREAM_KAFKA_SASL_PASSWORD: '' } });
      const noUser = run('--kafka-sasl-mechanism', 'plain', '--kafka-sasl-password', 'p');
      expect(noUser.status).toBe(2);
      expect(noUser.stderr).toMatch(/--kafka-sasl-mechanism needs --kafka-sasl-username/);
      const badMech = run('--kafka-sasl-mechanism', 'gssapi', '--kafka-sasl-username', 'u', '--kafka-sasl-password', 'p');
      expect(badMech.status).toBe(2);
      expect(badMech.stderr).toMatch(/kafka-sasl-mechanism/);
      const noCa = run('--kafka-ca', '/nonexistent/ca.pem', '--sink', 'remote-write', '--sink-url', 'http://127.0.0.1:1/api/v1/write');
      expect(noCa.status).toBe(2);
      expect(noCa.stderr).toMatch(/\/nonexistent\/ca\.pem/);
    });
  });
});
