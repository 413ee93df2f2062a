/**
 * Kafka mode's command line: retries are made safe where Kafka allows it, so the idempotent
 * producer is the default at --acks all, can be turned off, and is refused where the broker
 * cannot deduplicate (acks 0/1).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig, parseConfigLayers } from '../../src/main/config.ts';

const KAFKA = ['--mode', 'kafka', '--brokers', '127.0.0.1:9092'];

describe('Kafka mode flags', () => {
  it('idempotent by default at acks all (the default), off with --no-idempotent or acks 0/1', () => {
    expect(parseConfig(KAFKA)!.idempotent).toBe(true);
    expect(parseConfig([...KAFKA, '--acks', 'all'])!.idempotent).toBe(true);
    expect(parseConfig([...KAFKA, '--no-idempotent'])!.idempotent).toBe(false);
    expect(parseConfig([...KAFKA, '--acks', '1'])!.idempotent).toBe(false);
    expect(parseConfig([...KAFKA, '--acks', '0'])!.idempotent).toBe(false);
    expect(() => parseConfig([...KAFKA, '--acks', '1', '--idempotent'])).toThrow(/--idempotent needs --acks all/);
    // kafkajs refuses an idempotent producer without retries
    expect(parseConfig([...KAFKA, '--kafka-retries', '0'])!.idempotent).toBe(false);
    expect(() => parseConfig([...KAFKA, '--kafka-retries', '0', '--idempotent'])).toThrow(/--kafka-retries/);
    expect(parseConfig([])!.idempotent).toBe(false); // file mode has no producer
  });

  it('the environment can turn it off (and on) like the flag', () => {
    expect(parseConfigLayers(KAFKA, { METRICSTREAM_IDEMPOTENT: 'false' })!.idempotent).toBe(false);
    expect(parseConfigLayers(KAFKA, { METRICSTREAM_IDEMPOTENT: 'true' })!.idempotent).toBe(true);
    expect(parseConfigLayers(KAFKA, {})!.idempotent).toBe(true);
    expect(parseConfigLayers([...KAFKA, '--idempotent'], { METRICSTREAM_IDEMPOTENT: 'false' })!.idempotent).toBe(true);
    expect(() => parseConfigLayers([...KAFKA, '--acks', '1'], { METRICSTREAM_IDEMPOTENT: 'true' })).toThrow(/METRICSTREAM_IDEMPOTENT/);
  });
});
