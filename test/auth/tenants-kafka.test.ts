/**
 * Tokens mode in Kafka mode, against librdkafka's mock cluster: the message key in the
 * topic is the tenant id (never the token). And what the mock cluster cannot do: it
 * speaks neither SASL nor TLS, so the security flags are shown to reach kafkajs (the
 * gateway tries the SASL handshake and stays not ready), not to authenticate.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { partitionFor } from '../../src/records/partitioner.ts';
import { kafkaSecurityOptions, parseKafkaSecurity } from '../../src/kafka/kafka-security.ts';
import { tempDir } from '../support/gateway-process.ts';
import { consumeAll, freshTopic, kcatAll } from '../kafka/helpers.ts';
import { logged, readyz, useKafkaCluster, waitFor } from '../kafka/gateway-support.ts';
import { basic, metricsBody, request, writeAuthFile } from './helpers.ts';

const cluster = useKafkaCluster();

describe('tenants in Kafka mode', () => {
  it('the message key in the topic is the tenant id, whatever credential form was used', async () => {
    const dir = await tempDir();
    const authFile = writeAuthFile(path.join(dir, 'auth.json'), { acme: { tokens: ['acme-kafka-token'] }, globex: { tokens: ['globex-kafka-token'] } });
    const topic = freshTopic('tenants');
    const g = await cluster.gateway(topic, ['--auth', 'tokens', '--auth-file', authFile]);
    await waitFor('ready', async () => (await readyz(g.port)) === 200);
    const answers = [
      await request(g.port, { headers: { authorization: 'Bearer acme-kafka-token' }, body: metricsBody(1) }),
      await request(g.port, { headers: { authorization: basic('globex', 'acme-kafka-token') }, body: metricsBody(1) }),
      await request(g.port, { headers: { authorization: 'Bearer globex-kafka-token' }, body: metricsBody(1) }),
      await request(g.port, { headers: { authorization: 'Bearer not-a-token' }, body: metricsBody(1) }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 401]);
    const read = await consumeAll(cluster.broker.bootstrap, topic, 3);
    expect(read.map((m) => m.key.toString()).sort()).toEqual(['acme', 'acme', 'globex']);
    for (const m of read) expect(m.partition).toBe(partitionFor(m.key, 4));
    const viaKcat = await kcatAll(cluster.broker.bootstrap, topic);
    expect(viaKcat.map((m) => m.key).sort()).toEqual(['acme', 'acme', 'globex']);
    expect(JSON.stringify(viaKcat)).not.toContain('kafka-token');
    expect(await g.stop('SIGTERM')).toBe(0);
  });

  it('SASL options reach kafkajs: against the mock cluster (no SASL support) the gateway stays not ready and says why', async () => {
    const topic = freshTopic('sasl');
    const g = await cluster.gateway(topic, ['--kafka-sasl-mechanism', 'scram-sha-256', '--kafka-sasl-username', 'svc', '--kafka-sasl-password', 'pw', '--kafka-timeout', '1s', '--kafka-retries', '0']);
    await waitFor('a SASL failure in the log', () => logged(g.logs, /kafka/i) && JSON.stringify(g.logs).includes('does not support'), 20_000);
    expect(await readyz(g.port)).toBe(503);
    expect((await request(g.port, { headers: { authorization: 'c' }, body: metricsBody(1) })).status).toBe(503);
    await g.stop('SIGKILL');
  });

  it('the flags map to kafkajs ssl/sasl options', () => {
    expect(kafkaSecurityOptions(parseKafkaSecurity({}, {}))).toEqual({});
    expect(kafkaSecurityOptions(parseKafkaSecurity({ 'kafka-ssl': true }, {}))).toEqual({ ssl: true });
    expect(
      kafkaSecurityOptions(parseKafkaSecurity({ 'kafka-sasl-mechanism': 'scram-sha-512', 'kafka-sasl-username': 'u' }, { METRICSTREAM_KAFKA_SASL_PASSWORD: 'from-env' })),
    ).toEqual({ sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'from-env' } });
    expect(() => parseKafkaSecurity({ 'kafka-sasl-mechanism': 'plain' }, {})).toThrow(/needs --kafka-sasl-username/);
    expect(() => parseKafkaSecurity({ 'kafka-sasl-mechanism': 'gssapi', 'kafka-sasl-username': 'u', 'kafka-sasl-password': 'p' }, {})).toThrow(/must be one of/);
    expect(() => kafkaSecurityOptions(parseKafkaSecurity({ 'kafka-ca': '/nonexistent/ca.pem' }, {}))).toThrow(/--kafka-ca/);
  });
});
