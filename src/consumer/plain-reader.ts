/**
 * A plain (group-less) consumer of the partition log: reads every partition from the
 * beginning or the end, round-robin, optionally following the tail, and decodes values.
 * Per-partition order holds; records of different partitions interleave arbitrarily.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LogReader, type DamagedRange } from '../log/log-reader.ts';
import { toConsumedRecord } from './decode.ts';

/** A record as a consumer sees it: key as text, value decoded. */
export interface ConsumedRecord {
  partition: number;
  offset: number;
  /** The client id (UTF-8). */
  key: string;
  /** ms since the epoch. */
  timestamp: number;
  /** The metrics object (msgpack or JSON decoded), or undefined if it could not be decoded. */
  value: unknown;
  contentType: number;
  /** For a raw record (--value-format raw): the protocol it came in (CONTENT_TYPE_NAMES). */
  format?: string;
  /** Why `value` is undefined: an unknown content type or undecodable bytes. */
  valueError?: string;
  /** The raw value bytes, kept only when they could not be decoded. */
  rawValue?: Uint8Array;
  /** deferMsgpack: the msgpack value not decoded yet (`value` undefined until materialize()). */
  encoded?: Uint8Array;
}

export interface PlainReadOptions {
  dataDir: string;
  /** Start at each partition's earliest retained offset (default: at its end, new records only). */
  fromBeginning?: boolean;
  /** Keep polling for new records at the end instead of returning (default false). */
  follow?: boolean;
  /** Stop after this many records in total. */
  maxRecords?: number;
  /** Poll period when following and everything has been read (default 100 ms). */
  pollMs?: number;
  /** Records read from one partition per turn (default 500). */
  batchRecords?: number;
  /** Stops reading (and following) when aborted. */
  signal?: AbortSignal;
  /** Told when retention deleted offsets the consumer had not read yet. */
  onSkipped?: (partition: number, fromOffset: number, count: number) => void;
  /** Told of records damaged or missing on disk (stepped over; the good ones around them are delivered). */
  onDamaged?: (partition: number, range: DamagedRange) => void;
}


/** JSON.stringify replacer for decoded values: BigInt (int64 beyond 2^53) as a decimal string. */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf'; // as --value-format json writes them
  return typeof v === 'bigint' ? v.toString() : v;
}

/**
 * Reads the log and yields records in per-partition batches (each batch is one
 * partition's records in offset order). Ends at the end of the log unless `follow`, on
 * `maxRecords`, or when `signal` aborts. Damaged records go to `onDamaged`. Throws what
 * the reader throws (a data dir that holds no log).
 */
export async function* readPlain(opts: PlainReadOptions): AsyncGenerator<ConsumedRecord[]> {
  const reader = await LogReader.open(opts.dataDir);
  const batch = opts.batchRecords ?? 500;
  const pollMs = opts.pollMs ?? 100;
  let remaining = opts.maxRecords ?? Infinity;
  try {
    const positions: number[] = [];
    for (let p = 0; p < reader.partitions; p++) {
      positions.push(opts.fromBeginning ? await reader.startOffset(p) : await reader.endOffset(p));
    }
    while (remaining > 0 && !opts.signal?.aborted) {
      let readAny = false;
      for (let p = 0; p < reader.partitions && remaining > 0; p++) {
        const res = await reader.read(p, positions[p], Math.min(batch, remaining));
        if (res.skipped > 0) opts.onSkipped?.(p, positions[p], res.skipped);
        for (const d of res.damaged) opts.onDamaged?.(p, d);
        positions[p] = res.nextOffset;
        if (res.records.length === 0) continue;
        readAny = true;
        remaining -= res.records.length;
        yield res.records.map((r) => toConsumedRecord(p, r.offset, r.key, r.timestamp, r.contentType, r.value));
      }
      if (!readAny) {
        if (!opts.follow) return;
        await sleep(pollMs, undefined, { signal: opts.signal }).catch(() => {});
      }
    }
  } finally {
    await reader.close();
  }
}
