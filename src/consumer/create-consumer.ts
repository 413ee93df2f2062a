/**
 * The consumer library's entry: one API over both stores.
 */
import type { KafkaSecurity } from '../kafka/kafka-security.ts';
import { KafkaGroupConsumer, kafkaGroupLag } from './kafka-group-consumer.ts';
import { logGroupLag } from './log-group/group-lag.ts';
import { LogGroupConsumer } from './log-group/log-group-consumer.ts';
import { SinkConsumer } from './sinks/sink-consumer.ts';
import type { Consumer, ConsumerOptions, PartitionLag } from './types.ts';

/**
 * A consumer-group member of the local partition log (`mode: 'log'`, coordinated through
 * the data dir) or of a Kafka topic (`mode: 'kafka'`, a kafkajs consumer group). With a
 * `sink` option, run() without a handler delivers to that store (a SinkConsumer, whose
 * `metrics` the caller may serve). Nothing happens until run().
 */
export function createConsumer(opts: ConsumerOptions): Consumer {
  // A sink decodes msgpack values itself, straight into samples (SinkConsumer decodes them
  // for a handler given to run()).
  if (opts.sink !== undefined) opts = { ...opts, deferMsgpack: true };
  let inner: Consumer;
  if (opts.mode === 'log') inner = new LogGroupConsumer(opts);
  else if (opts.mode === 'kafka') inner = new KafkaGroupConsumer(opts);
  else throw new Error(`unknown consumer mode ${(opts as { mode: unknown }).mode}`);
  if (opts.sink !== undefined) return new SinkConsumer(inner, { ...opts, sink: opts.sink });
  return inner;
}

/** Lag per partition of a group, for either store, without joining the group. */
export function groupLag(
  opts:
    | { mode: 'log'; dataDir: string; group: string }
    | { mode: 'kafka'; brokers: string | string[]; topic: string; group: string; security?: KafkaSecurity },
): Promise<PartitionLag[]> {
  return opts.mode === 'log' ? logGroupLag(opts.dataDir, opts.group) : kafkaGroupLag(opts);
}
