/**
 * A consumer with a `sink` option: run() without a handler delivers every batch to the
 * store (Delivery) and commits after the store's 2xx. Builds the delivery from the
 * consumer's options: the wire format, the dead letter (a directory in log mode, a topic
 * in Kafka mode), the metrics (lag read from the consumer itself).
 */
import path from 'node:path';
import type { BatchHandler, ConsumedBatch, Consumer, ConsumerOptions, PartitionLag, RunOptions, SinkOptions } from '../types.ts';
import { materialize } from '../decode.ts';
import { consumerKafkaConfig } from '../kafka-group-consumer.ts';
import { FileDeadLetter, KafkaDeadLetter } from './dead-letter.ts';
import type { DeadLetter } from './dead-letter.ts';
import { Delivery } from './delivery.ts';
import { influxFormat } from './influx.ts';
import { remoteWriteFormat } from './remote-write.ts';
import { SinkMetrics } from './sink-metrics.ts';
import type { WireFormat } from './wire-format.ts';

/** The sink types and their wire formats. */
export const SINK_FORMATS: Record<SinkOptions['type'], WireFormat> = {
  'remote-write': remoteWriteFormat,
  influx: influxFormat,
};

/** Where a group's dead letter goes by default: a directory in log mode, `<topic>.dead-letter` in Kafka mode (with the member's TLS/SASL options). */
export function deadLetterFor(opts: ConsumerOptions, sink: SinkOptions): DeadLetter {
  if (sink.deadLetterDir !== undefined) return new FileDeadLetter(sink.deadLetterDir);
  if (opts.mode === 'log') return new FileDeadLetter(path.join(opts.dataDir, 'dead-letter', opts.group));
  return new KafkaDeadLetter(consumerKafkaConfig('metricstream-dead-letter', opts.brokers, opts.security), sink.deadLetterTopic ?? `${opts.topic}.dead-letter`);
}

/** See the module comment. */
export class SinkConsumer implements Consumer {
  readonly #inner: Consumer;
  readonly delivery: Delivery;
  /** The consumer's metrics (records delivered, lag, sink errors, dead letters). */
  readonly metrics: SinkMetrics;

  constructor(inner: Consumer, opts: ConsumerOptions & { sink: SinkOptions }) {
    this.#inner = inner;
    const sink = opts.sink;
    const format = SINK_FORMATS[sink.type];
    if (format === undefined) throw new Error(`unknown sink type ${String(sink.type)} (remote-write or influx)`);
    this.metrics = sink.metrics ?? new SinkMetrics(sink.type);
    this.metrics.setLagSource(() => inner.lag());
    this.delivery = new Delivery({
      format,
      url: sink.url,
      headers: sink.headers,
      maxSamplesPerRequest: sink.maxSamplesPerRequest,
      maxBytesPerRequest: sink.maxBytesPerRequest,
      concurrency: sink.concurrency,
      requestTimeoutMs: sink.requestTimeoutMs,
      minBackoffMs: sink.minBackoffMs,
      maxBackoffMs: sink.maxBackoffMs,
      deadLetter: deadLetterFor(opts, sink),
      group: opts.group,
      metrics: this.metrics,
      logger: sink.logger,
    });
  }

  async run(handler?: BatchHandler, opts?: RunOptions): Promise<void> {
    try {
      // The inner consumer defers msgpack decoding to the sink: a handler of the caller's gets the values decoded.
      const own = handler === undefined ? undefined : (batch: ConsumedBatch) => {
        for (const r of batch.records) materialize(r);
        return handler(batch);
      };
      await this.#inner.run(own ?? this.delivery.deliver, opts);
    } finally {
      await this.delivery.close();
    }
  }

  stop(): Promise<void> {
    return this.#inner.stop();
  }

  lag(): Promise<PartitionLag[]> {
    return this.#inner.lag();
  }
}
