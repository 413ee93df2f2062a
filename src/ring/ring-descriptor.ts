/**
 * Memory layout of one single-producer/single-consumer ring: one SharedArrayBuffer per
 * HTTP worker. The worker owns the write side, the owner thread the read side and the
 * durable cursor. Every control word sits alone on a 128-byte line so the two threads
 * never write the same cache line (two adjacent 64-byte lines, because of the
 * adjacent-line prefetcher).
 *
 * ```
 *   byte 0    +-----------------------------------------------+
 *             | TAIL          int32  bytes published (writer) |  line 0
 *       128   +-----------------------------------------------+
 *             | HEAD          int32  bytes freed (reader)     |  line 1
 *       256   +-----------------------------------------------+
 *             | DURABLE       int32  records completed (owner)|  line 2
 *       384   +-----------------------------------------------+
 *             | WRITER_WAITS  int32  1 = writer sleeps on     |  line 3
 *             |                      DURABLE, notify it       |
 *       512   +-----------------------------------------------+
 *             | writer counters, float64: records written,    |  line 4
 *             | refused because full, bytes written, heartbeat|
 *       640   +-----------------------------------------------+
 *             | reader counters, float64: records read,       |  line 5
 *             | drain passes                                  |
 *       768   +-----------------------------------------------+
 *             | data: `capacity` bytes (power of two) of      |
 *             | 8-byte aligned records, see RecordDescriptor  |
 *  768+cap    +-----------------------------------------------+
 *             | completions: `slots` x 16 bytes, one per      |
 *             | record in write order:                        |
 *             |   int32 status | int32 partition | f64 offset |
 *             +-----------------------------------------------+
 * ```
 *
 * Positions (TAIL, HEAD) are byte counts and DURABLE is a record count; all three are
 * int32 that wrap, so they are compared with `((a - b) | 0)` and indexed with `& mask`.
 */

export const CACHE_LINE = 128;

/** int32 index of each control word in an Int32Array over the whole buffer. */
export const TAIL = 0;
export const HEAD = CACHE_LINE / 4;
export const DURABLE = (2 * CACHE_LINE) / 4;
export const WRITER_WAITS = (3 * CACHE_LINE) / 4;

/** float64 index of each counter in a Float64Array over the whole buffer. */
export const RECORDS_WRITTEN = (4 * CACHE_LINE) / 8;
export const REFUSED_FULL = RECORDS_WRITTEN + 1;
export const BYTES_WRITTEN = RECORDS_WRITTEN + 2;
export const HEARTBEAT = RECORDS_WRITTEN + 3;
export const RECORDS_READ = (5 * CACHE_LINE) / 8;
export const DRAIN_PASSES = RECORDS_READ + 1;

/** Byte offset of the data region. */
export const DATA_OFFSET = 6 * CACHE_LINE;

/** One completion entry: int32 status, int32 partition, float64 offset. */
export const COMPLETION_BYTES = 16;

/** Completion status: the record is durable at (partition, offset). */
export const DURABLE_OK = 0;
/** Completion status: the sink could not make the record durable; answer 503. */
export const DURABLE_FAILED = 1;
/** Completion status: handed to a sink that gives no receipt (Kafka acks=0). */
export const SENT_UNACKNOWLEDGED = 2;
/** Completion status: durable in the local spill log, to be replayed to Kafka later. */
export const DURABLE_SPILLED = 3;
/**
 * Completion status: the outcome is unknown. The record was handed to the store and no
 * answer came (Kafka request timeout, connection lost after the request was written,
 * shutdown's flush deadline): it may be stored, possibly twice if the client retries.
 * The seed endpoint answers 504; DURABLE_FAILED (503) always means "not stored".
 */
export const DURABLE_UNKNOWN = 4;
/**
 * Completion status: the store refuses this record for good (larger than Kafka accepts);
 * not stored, and a retry of the same record would be refused again. Answered 413.
 */
export const DURABLE_REFUSED = 5;

/**
 * Framing of one record in the data region, after Agrona's RecordDescriptor.
 *
 * ```
 *   0        4        8
 *   +--------+--------+---------------------------+-----------+
 *   | length |  type  | payload (length - 8 bytes) | pad to 8  |
 *   +--------+--------+---------------------------+-----------+
 * ```
 *
 * `length` counts header and payload, not the alignment padding. A record never wraps:
 * when it does not fit before the end of the data region, the writer fills the rest with
 * one PADDING record and starts the record at index 0.
 */
export const RecordDescriptor = {
  HEADER_LENGTH: 8,
  ALIGNMENT: 8,
  /** Type of the filler record at the wrap; the reader skips it. */
  PADDING_TYPE: 0,
  lengthIndex(index: number): number {
    return index >> 2;
  },
  typeIndex(index: number): number {
    return (index >> 2) + 1;
  },
  align(length: number): number {
    return (length + 7) & ~7;
  },
} as const;

/** Smallest and largest data region accepted: positions must fit a wrapping int32. */
export const MIN_CAPACITY = 1024;
export const MAX_CAPACITY = 1 << 30;

/** Largest record (header included) a ring of `capacity` bytes accepts. */
export function maxRecordLength(capacity: number): number {
  return capacity / 8;
}
