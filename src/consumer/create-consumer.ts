/**
 * The consumer library's entry: one API over both stores.
 */
import type { KafkaSecurity } from '../kafka/kafka-security.ts';
import { KafkaGroupConsumer, kafkaGroupLag } from './kafka-group-consumer.ts';
import { logGroupLag } from './log-group/group-lag.ts';
import { LogGroupConsumer } from './log-group/log-group-consumer.ts';
import type { Consumer, ConsumerOptions, PartitionLag } from './types.ts';

/**
 * A consumer-group member of the local partition log (`mode: 'log'`, coordinated through
 * the data dir) or of a Kafka topic (`mode: 'kafka'`, a kafkajs consumer group). Nothing
 * happens until run().
 */
export function createConsumer(opts: ConsumerOptions): Consumer {
  if (opts.mode === 'log') return new LogGroupConsumer(opts);
  if (opts.mode === 'kafka') return new KafkaGroupConsumer(opts);
  throw new Error(`unknown consumer mode ${(opts as { mode: unknown }).mode}`);
}

/** Lag per partition of a group, for either store, without joining the group. */
export function groupLag(
  opts:
    | { mode: 'log'; dataDir: string; group: string }
    | { mode: 'kafka'; brokers: string | string[]; topic: string; group: string; security?: KafkaSecurity },
): Promise<PartitionLag[]> {
  return opts.mode === 'log' ? logGroupLag(opts.dataDir, opts.group) : kafkaGroupLag(opts);
}
