/**
 * metricstream's package entry: the consumer library. Read the local partition log or a
 * Kafka topic in consumer groups, with at-least-once commits.
 *
 * ```ts
 * import { createConsumer } from 'metricstream';
 * const c = createConsumer({ mode: 'log', dataDir: './data', group: 'storage-writer', fromBeginning: true });
 * await c.run(async ({ partition, records }) => { ...store them... }); // until c.stop()
 *
 * // or straight into a store, committed after its 2xx:
 * const w = createConsumer({ mode: 'log', dataDir: './data', group: 'vm-writer',
 *   sink: { type: 'remote-write', url: 'http://127.0.0.1:8428/api/v1/write' } });
 * await w.run();
 * ```
 */
export { createConsumer, groupLag } from './consumer/create-consumer.ts';
export { logGroupLag } from './consumer/log-group/group-lag.ts';
export { kafkaGroupLag } from './consumer/kafka-group-consumer.ts';
export { readPlain, jsonReplacer } from './consumer/plain-reader.ts';
export { decodeValue } from './consumer/decode.ts';
export { BatchAbandoned } from './consumer/batch-abandoned.ts';
export { SinkConsumer } from './consumer/sinks/sink-consumer.ts';
export { SinkMetrics } from './consumer/sinks/sink-metrics.ts';
export { encodeWriteRequest } from './consumer/sinks/remote-write.ts';
export { extractSamples, SampleBatch, SeriesTable } from './consumer/sinks/samples.ts';
export { influxLine } from './consumer/sinks/influx.ts';
export type { PlainReadOptions } from './consumer/plain-reader.ts';
export type {
  BatchHandler,
  ConsumedBatch,
  ConsumedRecord,
  Consumer,
  ConsumerEvent,
  ConsumerOptions,
  KafkaConsumerOptions,
  LogConsumerOptions,
  PartitionLag,
  RunOptions,
  SinkOptions,
} from './consumer/types.ts';

// The protocol decoders and the record-format encoder, as pure functions: decode a
// remote_write / line protocol / OTLP body into the record format without a gateway.
export { createRecordEncoder } from './records/record-encoder.ts';
export type { RecordEncoder, ValueFormat } from './records/record-encoder.ts';
export { decodeRemoteWrite, remoteWriteVersion } from './protocols/remote-write.ts';
export { snappyBlockDecode } from './workers/content-encoding.ts';
export { parseLineProtocol, parsePrecision } from './protocols/influx-line.ts';
export { decodeOtlp } from './protocols/otlp.ts';
export { OtlpEmitter } from './protocols/otlp-emit.ts';
