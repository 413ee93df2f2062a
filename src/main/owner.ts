/**
 * The owner loop: the only code that reads the rings and the only code that touches the
 * sink. It drains every ring into a pending batch (freeing ring space at once), commits
 * that batch with one sink.append, and hands each record's outcome back through its
 * ring's durable cursor.
 *
 * Group commit, never waiting for a timer: while one append (write + fdatasync) is in
 * flight, records accumulate; when it completes, everything that arrived meanwhile is
 * committed at once. Under load batches grow by themselves; an idle system commits a
 * lone record immediately. The owner sleeps on the doorbell only when no commit is in
 * flight, so under load writers never pay for waking it.
 */
import { PayloadSlabs } from '../records/payload-slabs.ts';
import { readPayload } from '../records/ring-payload.ts';
import type { Doorbell } from '../ring/doorbell.ts';
import {
  DURABLE_FAILED,
  DURABLE_OK,
  DURABLE_REFUSED,
  DURABLE_SPILLED,
  DURABLE_UNKNOWN,
  SENT_UNACKNOWLEDGED,
} from '../ring/ring-descriptor.ts';
import type { RingReader } from '../ring/ring-reader.ts';
import type { AppendResult, Sink, SinkRecord } from '../sink/sink.ts';

/** How often the owner drains while a slow commit is in flight (a fast one ends first). */
const DRAIN_INTERVAL_MS = 2;

export interface OwnerStats {
  drainPasses: number;
  recordsDrained: number;
  commits: number;
  recordsCommitted: number;
  /** Records not made durable: not stored (503), refused for good (413), or outcome unknown (504). */
  recordsFailed: number;
  /** Of recordsFailed: handed to the sink without an answer (may be stored; answered 504). */
  recordsUnknown: number;
  /** Sum of append latencies in ms, for an average. */
  appendMs: number;
  /** Atomics.notify calls on the rings' durable cursors, and waiting writers they woke. */
  notifies: number;
  wakeups: number;
}

/** A batch on its way to the sink, with the ring each record came from. */
interface Batch {
  records: SinkRecord[];
  rings: RingReader[];
  bytes: number;
  /** The memory its records live in (PayloadSlabs), set when the batch is committed. */
  slabs: Buffer[];
}

function emptyBatch(): Batch {
  return { records: [], rings: [], bytes: 0, slabs: [] };
}

export interface OwnerOptions {
  /** Most records read from one ring per pass, so one busy ring cannot starve others. */
  readLimit?: number;
  /** Stop draining while this many bytes wait for the sink: rings fill, workers answer 503. */
  maxPendingBytes?: number;
  /** Doorbell sleep timeout; the wake-up protocol needs none, it bounds any bug. */
  idleTimeoutMs?: number;
  /** Called after each drain pass that read records, and after each commit (metrics). */
  onDrain?: (records: number) => void;
  onCommit?: (records: number, failed: number, ms: number) => void;
}

export class Owner {
  readonly stats: OwnerStats = { drainPasses: 0, recordsDrained: 0, commits: 0, recordsCommitted: 0, recordsFailed: 0, recordsUnknown: 0, appendMs: 0, notifies: 0, wakeups: 0 };
  private readonly readers: RingReader[] = [];
  private readonly doorbell: Doorbell;
  private readonly sink: Sink;
  private readonly readLimit: number;
  private readonly maxPendingBytes: number;
  private readonly idleTimeoutMs: number;
  private readonly onDrain: OwnerOptions['onDrain'];
  private readonly onCommit: OwnerOptions['onCommit'];
  private pending: Batch = emptyBatch();
  private inFlight: Promise<void> | undefined;
  private committing = 0;
  private stopping = false;
  /** Resolves the append in flight as outcome unknown (see abandon()); one per commit. */
  private giveUp: (() => void) | undefined;
  private isAbandoned = false;
  private currentReader: RingReader | undefined;
  /** Rings whose writer died: drained and completed as usual, then forgotten. */
  private readonly retiring = new Map<RingReader, () => void>();
  private readonly slabs = new PayloadSlabs();
  private readonly collect = (type: number, bytes: Uint8Array, index: number, length: number): void => {
    const record = readPayload(type, this.slabs.copy(bytes, index, length));
    this.pending.records.push(record);
    this.pending.rings.push(this.currentReader!);
    this.pending.bytes += length;
  };

  constructor(doorbell: Doorbell, sink: Sink, options: OwnerOptions = {}) {
    this.doorbell = doorbell;
    this.sink = sink;
    this.readLimit = options.readLimit ?? 4096;
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 1000;
    this.onDrain = options.onDrain;
    this.onCommit = options.onCommit;
  }

  /** Starts draining `reader` too (a worker's ring). */
  addRing(reader: RingReader): void {
    this.readers.push(reader);
  }

  /**
   * The writer of `reader` is gone (its worker died): keep draining and committing what
   * it published, then stop reading the ring and drop it. Resolves once it is dropped;
   * nothing written into it is lost, and its memory can be collected.
   */
  retireRing(reader: RingReader): Promise<void> {
    return new Promise<void>((resolve) => {
      this.retiring.set(reader, resolve);
      this.doorbell.wake();
    });
  }

  /** Rings the owner still reads (live and retiring). */
  get ringCount(): number {
    return this.readers.length;
  }

  private forgetSettledRings(): void {
    for (const [reader, resolve] of this.retiring) {
      if (!reader.settled()) continue;
      this.readers.splice(this.readers.indexOf(reader), 1);
      this.retiring.delete(reader);
      resolve();
    }
  }

  /**
   * Runs until stop() was called and every ring is empty and every record committed.
   * Resolves then; never rejects for a sink failure (records fail, the loop goes on).
   */
  async run(): Promise<void> {
    const hasWork = () => this.stopping || this.retiring.size > 0 || this.readers.some((r) => r.hasRecords());
    for (;;) {
      this.drain();
      if (this.retiring.size > 0) this.forgetSettledRings();
      if (this.inFlight === undefined && this.pending.records.length > 0) this.inFlight = this.commit();
      if (this.inFlight !== undefined) {
        // While a commit is in flight nobody needs to ring the doorbell: we drain again
        // the moment it completes (so the next batch is everything that arrived
        // meanwhile), or every DRAIN_INTERVAL_MS under a slow sink, to keep freeing ring
        // space. Writers only pay for a wake-up when the owner is really idle.
        let timer: NodeJS.Timeout | undefined;
        const tick = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_INTERVAL_MS)));
        await Promise.race([this.inFlight, tick]);
        clearTimeout(timer);
        continue;
      }
      if (this.stopping && !this.readers.some((r) => r.hasRecords())) return;
      await this.doorbell.sleep(this.idleTimeoutMs, hasWork);
    }
  }

  /** Records drained but not yet answered by the sink (pending and in flight); may be stale. */
  get pendingRecords(): number {
    return this.pending.records.length + this.committing;
  }

  /** Asks run() to finish once the rings are empty; call after workers stopped writing. */
  stop(): void {
    this.stopping = true;
    this.doorbell.wake();
  }

  /**
   * Last resort of a bounded shutdown, for a sink whose append does not resolve even after
   * close() gave up: the append in flight is completed now as outcome unknown (its records
   * were handed to the sink), and its late result is ignored. Only safe once the sink is
   * closed (later appends fail at once instead of running beside the abandoned one).
   */
  abandon(): void {
    this.isAbandoned = true;
    this.giveUp?.();
    this.giveUp = undefined;
  }

  private drain(): number {
    if (this.pending.bytes >= this.maxPendingBytes) return 0;
    let n = 0;
    for (const reader of this.readers) {
      this.currentReader = reader;
      n += reader.read(this.collect, this.readLimit);
    }
    this.currentReader = undefined;
    this.stats.drainPasses++;
    this.stats.recordsDrained += n;
    if (n > 0) this.onDrain?.(n);
    return n;
  }

  private async commit(): Promise<void> {
    const batch = this.pending;
    batch.slabs = this.slabs.takeBatch();
    this.pending = emptyBatch();
    this.committing = batch.records.length;
    const started = performance.now();
    let result: AppendResult;
    let settled = true;
    const n = batch.records.length;
    try {
      const append = this.sink.append(batch.records);
      if (this.isAbandoned) result = await append;
      else {
        // A promise per commit (not one shared pending promise, which would collect a
        // reaction per commit for the life of the process).
        const abandoned = new Promise<AppendResult>((resolve) => {
          this.giveUp = () =>
            resolve({ offsets: new Float64Array(n).fill(-1), unknown: new Uint8Array(n).fill(1), error: 'abandoned at the shutdown deadline' });
        });
        result = await Promise.race([append, abandoned]);
        this.giveUp = undefined;
      }
    } catch (e) {
      // The contract says append never rejects; if it does, fail the batch, never hang it.
      result = { offsets: new Float64Array(n).fill(-1), error: String(e) };
      settled = false;
    }
    const ms = performance.now() - started;
    const { records, rings } = batch;
    const offsets = result.offsets;
    // Kafka acks=0 gives no receipt: a record sent is reported as such, never as durable.
    const sent = result.unacknowledged === true ? SENT_UNACKNOWLEDGED : DURABLE_OK;
    const { spilled, unknown, refused } = result;
    // Their memory is reused only if the sink is surely done with these records: not when
    // an outcome is unknown (it may still be sending them), the append was abandoned (it
    // may still run) or broke its contract by rejecting.
    if (settled && unknown === undefined && !this.isAbandoned) this.slabs.release(batch.slabs);
    let failed = 0;
    let unknowns = 0;
    for (let i = 0; i < records.length; i++) {
      const offset = offsets[i];
      if (spilled !== undefined && spilled[i] === 1) rings[i].complete(DURABLE_SPILLED, records[i].partition, -1);
      else if (offset >= 0) rings[i].complete(sent, records[i].partition, offset);
      else {
        // 504 (may be stored) and 413 (refused for good) say more than 503 (not stored).
        let status = DURABLE_FAILED;
        if (unknown !== undefined && unknown[i] === 1) {
          status = DURABLE_UNKNOWN;
          unknowns++;
        } else if (refused !== undefined && refused[i] === 1) status = DURABLE_REFUSED;
        rings[i].complete(status, records[i].partition, -1);
        failed++;
      }
    }
    for (const reader of new Set(rings)) {
      const { notifies, wakeups } = reader;
      reader.publish();
      this.stats.notifies += reader.notifies - notifies;
      this.stats.wakeups += reader.wakeups - wakeups;
    }
    this.stats.commits++;
    this.stats.recordsCommitted += records.length - failed;
    this.stats.recordsFailed += failed;
    this.stats.recordsUnknown += unknowns;
    this.stats.appendMs += ms;
    this.onCommit?.(records.length, failed, ms);
    this.inFlight = undefined;
    this.committing = 0;
  }
}
