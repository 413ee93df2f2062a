/**
 * The contract between the owner thread and where records end up (the local partition
 * log, or Kafka). Only the owner thread ever holds a Sink: no sink object is shared
 * between threads, which is what removes the predecessor's producer mutex.
 */

/** How a record's value bytes are encoded; also the ring record's type. */
export const ContentType = {
  msgpack: 1,
  json: 2,
  // --value-format raw: the body as received (after any Content-Encoding the worker
  // decoded; remote_write keeps its snappy block compression), README "Record format".
  remoteWriteV1: 3,
  remoteWriteV2: 4,
  /** Influx line protocol, timestamps in ns (influxNs/Us/Ms/S: the request's precision). */
  influxNs: 5,
  otlpProtobuf: 6,
  otlpJson: 7,
  influxUs: 8,
  influxMs: 9,
  influxS: 10,
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

export const CONTENT_TYPE_NAMES: Record<number, string> = {
  [ContentType.msgpack]: 'application/msgpack',
  [ContentType.json]: 'application/json',
  [ContentType.remoteWriteV1]: 'application/x-protobuf;proto=prometheus.WriteRequest (snappy)',
  [ContentType.remoteWriteV2]: 'application/x-protobuf;proto=io.prometheus.write.v2.Request (snappy)',
  [ContentType.influxNs]: 'text/plain;influx-line-protocol;precision=ns',
  [ContentType.otlpProtobuf]: 'application/x-protobuf;otlp=ExportMetricsServiceRequest',
  [ContentType.otlpJson]: 'application/json;otlp=ExportMetricsServiceRequest',
  [ContentType.influxUs]: 'text/plain;influx-line-protocol;precision=us',
  [ContentType.influxMs]: 'text/plain;influx-line-protocol;precision=ms',
  [ContentType.influxS]: 'text/plain;influx-line-protocol;precision=s',
};

/** One HTTP request's worth of metrics, as the owner hands it to a sink. */
export interface SinkRecord {
  /** Partition chosen by the worker with Kafka's default partitioner on the key. */
  partition: number;
  /** The client id, UTF-8. */
  key: Uint8Array;
  /** Encoded value (msgpack or JSON of `{metrics:[...]}`); a sink never re-encodes it. */
  value: Uint8Array;
  /** Request time, ms since the epoch. */
  timestamp: number;
  contentType: ContentType;
}

/**
 * Outcome of one append: `offsets[i]` is record i's offset in its partition once it is
 * durable, or -1 when it could not be made durable (then `error` says why).
 * With `unacknowledged` (Kafka acks=0) the store gave no answer at all: a record whose
 * offset is not -1 was sent but its position is unknown (its offset is 0, not a position).
 */
export interface AppendResult {
  offsets: Float64Array;
  error?: string;
  unacknowledged?: boolean;
  /**
   * Kafka with `--fallback file`: 1 where the record could not reach Kafka and was made
   * durable in the local spill log instead (replayed to Kafka later). Its offset is not
   * a Kafka offset; the client is answered 202 {"spilled":true}.
   */
  spilled?: Uint8Array;
  /**
   * 1 where a record with offset -1 may nevertheless be stored: it was handed to the store
   * and no answer came (a Kafka request timeout, a connection lost after the request was
   * written, a close() that gave up waiting). The client is answered 504 ("may have been
   * stored"), not 503 ("not stored"). Absent or 0: an offset of -1 means not stored.
   */
  unknown?: Uint8Array;
  /**
   * 1 where the store refuses the record itself for good (larger than Kafka accepts): a
   * retry of the same record fails again. The client is answered 413. Offset is -1.
   */
  refused?: Uint8Array;
}

export interface Sink {
  /** Short name for logs and the start line: "log" or "kafka". */
  readonly name: string;
  /** Recover or connect. A sink that cannot reach its store yet still opens, not ready. */
  open(): Promise<void>;
  /** Whether an append now would be expected to succeed (drives /readyz). */
  isReady(): boolean;
  /**
   * Make every record of `batch` durable. Resolves (never rejects for a record's failure)
   * once each record is durable or has failed. The owner calls append again only after
   * the previous call resolved: that is the group commit, batches grow with load.
   * The records' bytes are the owner's again once append resolved, unless a record's
   * outcome is `unknown`: a sink keeps no reference to them past that (the owner reuses
   * the memory, src/records/payload-slabs.ts).
   */
  append(batch: SinkRecord[]): Promise<AppendResult>;
  /**
   * Optional: whether the append in flight has waited past the sink's stall limit for its
   * store (a disk that stopped answering). While it has, the gateway is not ready and its
   * workers answer new requests 503 at once instead of queueing them behind the stall;
   * records already handed over are answered when the append completes.
   */
  stalled?(): boolean;
  /**
   * Flush (bounded) and release; after close nothing is appended. An append still running
   * when close() gives up resolves then, its undelivered records marked `unknown` (or -1
   * when never sent): the caller counts those from the result. close() resolves with how
   * many records the sink keeps undelivered beyond its appends' results: records it
   * answered as stored elsewhere (the Kafka spill, replayed at the next start); 0 for the
   * local log and for Kafka without the fallback.
   *
   * `deadline` (Date.now() time): close() gives up on whatever is still in flight then;
   * default: the sink's own flush timeout from the call.
   */
  close(deadline?: number): Promise<number>;
  /**
   * Optional, for a sink with a local fallback: shutdown's flush deadline passed, so stop
   * waiting on the remote store (an append in flight resolves now) but keep taking
   * appends locally until close(). A sink without it is closed at the deadline instead.
   */
  giveUpRemote?(): Promise<void>;
}
