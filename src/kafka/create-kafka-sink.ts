/**
 * Builds the gateway's Kafka sink from its command line: a KafkaSink, wrapped in a
 * FallbackSink (spill to `<data-dir>/kafka-spill/` while Kafka is down) with
 * `--fallback file`. Refuses to start (throws) when
 * the cluster answers and the topic's partition count differs from --partitions: a client
 * must land on the same partition number in the local log and in Kafka, and the
 * partitioning happens in the workers before the sink sees a record. When the cluster
 * does not answer yet, the sink opens not ready and makes the same check itself once it
 * connects (it then stays not ready, with the reason in its log line).
 */
import type { Logger } from 'pino';
import type { DiskWorkSignal } from '../log/stall-watch.ts';
import type { GatewayConfig } from '../main/config.ts';
import type { Sink } from '../sink/sink.ts';
import { FallbackSink } from './fallback-sink.ts';
import { KafkaSink } from './kafka-sink.ts';
import { readTopicPartitions } from './topic-metadata.ts';
import { kafkaSecurityOptions } from './kafka-security.ts';

/** Creates (does not open) the Kafka sink for `config`; see the module comment. */
export async function createKafkaSink(config: GatewayConfig, logger: Logger, diskWork?: DiskWorkSignal): Promise<Sink> {
  const log = logger.child({ sink: 'kafka' });
  const security = kafkaSecurityOptions(config.kafkaSecurity);
  let partitions: number | undefined;
  try {
    partitions = await readTopicPartitions(config.brokers, config.topic, {
      connectionTimeoutMs: 1000,
      requestTimeoutMs: 3000,
      retries: 0,
      security,
    });
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'kafka not reachable at startup; starting not ready');
  }
  if (partitions !== undefined && partitions !== config.partitions) {
    throw new Error(
      `kafka topic ${config.topic} has ${partitions} partitions but --partitions is ${config.partitions}: ` +
        `start with --partitions ${partitions} (and a data dir made for it), or use a topic with ${config.partitions}`,
    );
  }
  const fallback = config.fallback === 'file';
  // With the fallback, --flush-timeout is shared: half to go on replaying the spill at
  // shutdown, half for the producer's own flush of the batch in flight.
  const producerFlushMs = fallback ? Math.ceil(config.flushTimeoutMs / 2) : config.flushTimeoutMs;
  const kafka = new KafkaSink({
    brokers: config.brokers,
    topic: config.topic,
    acks: config.idempotent ? -1 : config.acks,
    compression: config.compression,
    idempotent: config.idempotent,
    flushTimeoutMs: producerFlushMs,
    requestTimeoutMs: config.kafkaTimeoutMs,
    retries: config.kafkaRetries,
    maxPartitionBatchBytes: config.kafkaRequestBytes,
    clientId: 'metricstream',
    security,
    logger: log,
    expectPartitions: config.partitions,
  });
  if (!fallback) return kafka;
  return new FallbackSink(kafka, {
    dataDir: config.dataDir,
    partitions: config.partitions,
    logger: log,
    replayAtCloseMs: config.flushTimeoutMs - producerFlushMs,
    stallTimeoutMs: config.diskStallTimeoutMs,
    diskWork,
    acceptDataLoss: config.acceptDataLoss,
    ...(config.segmentBytes !== undefined ? { segmentBytes: config.segmentBytes } : {}),
  });
}
