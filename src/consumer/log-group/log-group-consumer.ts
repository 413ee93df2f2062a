/**
 * A consumer-group member on the local partition log: the read loop on top of
 * GroupMember (which does leases, generations and fenced commits).
 *
 * One loop per member reads its partitions round-robin, a batch at a time, calls the
 * handler, then commits. Membership changes are applied by the loop itself between
 * batches (never while a batch is in flight), which is what makes "stop reading, then
 * release" ordered: a revoked partition is dropped from the lease only after its last
 * batch was handled.
 */
import { LogReader } from '../../log/log-reader.ts';
import { isAbandoned } from '../batch-abandoned.ts';
import { toConsumedRecord } from '../decode.ts';
import type { BatchHandler, Consumer, ConsumerEvent, LogConsumerOptions, PartitionLag, RunOptions } from '../types.ts';
import { ChangeWaiter } from './change-waiter.ts';
import { logGroupLag } from './group-lag.ts';
import { GroupMember } from './group-member.ts';
import { readCommitted } from './offset-store.ts';

export const DEFAULT_SESSION_TIMEOUT_MS = 6000;
const DEFAULT_BATCH = 500;
const MAX_POLL_MS = 250;
const DEFAULT_STOP_GRACE_MS = 5000;

/** See the module comment. Create through createConsumer({mode: 'log', ...}). */
export class LogGroupConsumer implements Consumer {
  readonly #opts: LogConsumerOptions;
  #stopping = false;
  #running: Promise<void> | null = null;
  #waiter: ChangeWaiter | null = null;
  /** The batch being handled: its partition, abort controller and ownership check. */
  #inflight: { partition: number; abort: AbortController; mine: () => boolean; revoked: () => boolean } | null = null;
  #stopTimer: NodeJS.Timeout | null = null;

  constructor(opts: LogConsumerOptions) {
    this.#opts = opts;
  }

  run(handler?: BatchHandler, opts: RunOptions = {}): Promise<void> {
    if (handler === undefined) return Promise.reject(new Error('run() needs a batch handler (or create the consumer with a sink option)'));
    if (this.#running !== null) return Promise.reject(new Error('run() was already called on this consumer'));
    this.#running = this.#run(handler, opts);
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#waiter?.wake();
    // A batch in flight may finish and be committed within the grace period; then it is
    // given up (a store that is down must not hold the stop forever).
    this.#stopTimer ??= setTimeout(() => this.#inflight?.abort.abort(new Error('the consumer is stopping')), this.#opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    try {
      await this.#running?.catch(() => {});
    } finally {
      clearTimeout(this.#stopTimer);
    }
  }

  /**
   * Aborts the batch in flight if this member lost its partition, or lost any other
   * partition it reads (called on every group change): the read loop must get to releasing
   * those, which it does only between batches, and a batch can take long (retries against
   * a store that is down). The batch is not committed; it is read again while still ours.
   */
  #checkInflight(): void {
    const b = this.#inflight;
    if (b === null) return;
    if (!b.mine()) b.abort.abort(new Error(`partition ${b.partition} is no longer owned by this member`));
    else if (b.revoked()) b.abort.abort(new Error('a rebalance took partitions from this member: releasing them first'));
  }

  lag(): Promise<PartitionLag[]> {
    return logGroupLag(this.#opts.dataDir, this.#opts.group);
  }

  #emit(e: ConsumerEvent): void {
    this.#opts.onEvent?.(e);
  }

  async #run(handler: BatchHandler, runOpts: RunOptions): Promise<void> {
    const o = this.#opts;
    const batchMax = o.maxBatchRecords ?? DEFAULT_BATCH;
    let remaining = runOpts.maxRecords ?? Infinity;
    const reader = await LogReader.open(o.dataDir);
    const waiter = new ChangeWaiter([o.dataDir], Math.min(o.pollMs ?? MAX_POLL_MS, MAX_POLL_MS));
    this.#waiter = waiter;
    if (this.#stopping) waiter.wake();
    let member: GroupMember | null = null;
    /** Partitions this member reads now -> next offset to read. */
    const owned = new Map<number, number>();
    /**
     * Partitions whose last commit was refused while they stayed this member's (a newer
     * generation appeared meanwhile): the offset to commit. The next batch's commit covers
     * it; at the end of the data, the idle loop commits it.
     */
    const uncommitted = new Map<number, number>();
    let announced = -1;
    try {
      member = await GroupMember.join({
        dataDir: o.dataDir,
        group: o.group,
        partitions: reader.partitions,
        memberId: o.memberId,
        sessionTimeoutMs: o.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
        onChange: () => {
          waiter.wake();
          this.#checkInflight();
        },
        onWarning: (message) => this.#emit({ type: 'warning', message }),
      });
      while (!this.#stopping && remaining > 0) {
        const seen = waiter.seq;
        if (member.lapsed) {
          // Said even when nothing is left to drop: the member may have adopted the
          // generation that moved its partitions away before it saw its own lapse, and an
          // operator still wants to know the process was stopped past its session.
          this.#emit({
            type: 'warning',
            message:
              owned.size > 0
                ? `member ${member.memberId}: lease ran out (process stopped or starved); dropping partitions ${[...owned.keys()].join(',')} without committing`
                : `member ${member.memberId}: lease ran out (process stopped or starved); it held no partitions by then`,
          });
          owned.clear();
          await member.ackLapse();
          continue;
        }
        const { settled, generation } = await this.#sync(member, reader, owned);
        if (settled && generation !== announced) {
          announced = generation;
          this.#emit({ type: 'assigned', generation, memberId: member.memberId, partitions: [...owned.keys()].sort((a, b) => a - b) });
        }
        let readAny = false;
        // Each partition's commit runs while the next partition's batch is read and
        // handled (one commit per partition per pass, so they cannot reorder); all of them
        // finish before the pass ends, i.e. before any partition can be released.
        const commits: Promise<void>[] = [];
        try {
          for (const [p, from] of owned) {
            // A new generation or a lapse is applied (by #sync) before reading on.
            if (this.#stopping || remaining <= 0 || member.lapsed || !member.leaseValid()) break;
            if ((member.generation?.generation ?? 0) !== generation) break;
            const res = await reader.read(p, from, Math.min(batchMax, remaining));
            if (res.skipped > 0) {
              this.#emit({ type: 'retention-skip', partition: p, committedOffset: from, earliestOffset: from + res.skipped });
            }
            for (const d of res.damaged) {
              this.#emit({ type: 'warning', message: `offsets ${d.from}-${d.to - 1} (${d.to - d.from} records) cannot be read: ${d.reason}` });
            }
            if (res.records.length === 0) {
              owned.set(p, res.nextOffset);
              continue;
            }
            readAny = true;
            const records = res.records.map((r) => toConsumedRecord(p, r.offset, r.key, r.timestamp, r.contentType, r.value, o.deferMsgpack));
            const m = member;
            const abort = new AbortController();
            // Still assigned to this member, and its lease has not lapsed.
            const mine = (): boolean => !abort.signal.aborted && !m.lapsed && m.assigned().includes(p);
            // Before each send: and the lease is comfortably valid, renewed first if it is
            // near its end (a long batch on a starved process must not lose its lease to a
            // late heartbeat, nor send once the lease ran out: that turns into a lapse).
            const owns = async (): Promise<boolean> => {
              if (!mine()) return false;
              if (!m.leaseValid()) await m.renew().catch(() => {});
              return mine() && m.leaseValid();
            };
            const revoked = (): boolean => [...owned.keys()].some((q) => !m.assigned().includes(q));
            this.#inflight = { partition: p, abort, mine, revoked };
            try {
              await handler({ partition: p, records, signal: abort.signal, owned: owns });
            } catch (err) {
              if (!isAbandoned(err, abort.signal)) throw err;
              // Given up, nothing committed: `p` stays at `from`, read again if still ours.
              this.#emit({
                type: 'warning',
                message: `partition ${p}: batch at offsets ${from}..${res.nextOffset - 1} given up without committing (${(err as Error).message})`,
              });
              break;
            } finally {
              this.#inflight = null;
            }
            owned.set(p, res.nextOffset);
            remaining -= records.length;
            commits.push(
              (async () => {
                uncommitted.delete(p);
                let c = await m.commit(p, res.nextOffset);
                // Refused because a newer generation appeared while the batch was handled,
                // and that one still gives `p` to this member (so nobody else read it):
                // commit again under it (commit() adopted it), or the partition would sit
                // uncommitted at the end of the data.
                for (let i = 0; i < 3 && !c.ok && !m.lapsed && m.assigned().includes(p); i++) c = await m.commit(p, res.nextOffset);
                if (c.ok) return;
                this.#emit({ type: 'commit-refused', partition: p, offset: res.nextOffset, reason: c.reason });
                if (!m.lapsed && m.assigned().includes(p)) uncommitted.set(p, res.nextOffset);
              })(),
            );
          }
        } finally {
          // Also when the handler failed: the batches before it were handled.
          const results = await Promise.allSettled(commits);
          const failed = results.find((r) => r.status === 'rejected');
          if (failed) throw (failed as PromiseRejectedResult).reason;
        }
        if (readAny) continue;
        for (const [p, offset] of uncommitted) {
          uncommitted.delete(p);
          if (owned.get(p) !== offset || member.lapsed || !member.assigned().includes(p)) continue;
          const c = await member.commit(p, offset);
          if (!c.ok && !member.lapsed && member.assigned().includes(p)) uncommitted.set(p, offset);
        }
        if (runOpts.exitAtEnd && settled && member.leaseValid() && (member.generation?.generation ?? 0) === generation) break;
        // Not leaseValid (a heartbeat is late) also lands here: wait for it, do not spin.
        await waiter.wait(seen);
      }
    } finally {
      // Reading has stopped: releasing the partitions is now safe (leave deletes the lease).
      owned.clear();
      waiter.close();
      this.#waiter = null;
      try {
        await member?.leave();
      } finally {
        await reader.close();
      }
    }
  }

  /**
   * Makes `owned` match the adopted generation: drops revoked partitions and releases
   * them, then starts newly assigned ones that no other live member still claims.
   * `settled` is false while some assigned partition could not be started yet.
   */
  async #sync(
    member: GroupMember,
    reader: LogReader,
    owned: Map<number, number>,
  ): Promise<{ settled: boolean; generation: number }> {
    const generation = member.generation?.generation ?? 0;
    const mine = new Set(member.assigned());
    for (const p of owned.keys()) if (!mine.has(p)) owned.delete(p);
    const toStart = [...mine].filter((p) => !owned.has(p));
    if (toStart.length > 0 && !member.leaseValid()) {
      await member.setClaims(owned.keys()); // releases what was revoked, claims nothing new
      return { settled: false, generation };
    }
    // The lease claims what we read plus what we are about to start, and is rewritten only
    // when that changes (a waiting member does not rewrite its lease on every wake-up,
    // which would wake the others, which would wake it...). Dropping revoked partitions
    // from the claims happens here, after the loop stopped reading them.
    await member.setClaims([...owned.keys(), ...toStart]);
    if (toStart.length === 0) return { settled: true, generation };

    // Claim first, then check: a member that started a partition either published its
    // claim before we read the leases below (and we wait for it), or it checks the
    // generation after our claim is visible and finds one that gives it to us.
    const now = await member.refreshGeneration();
    if ((now?.generation ?? 0) !== generation || member.lapsed) return { settled: false, generation };
    const taken = await member.claimsOfOthers();
    for (const p of toStart) {
      if (taken.has(p)) continue; // its previous owner has not released it yet
      const start = await this.#startOffset(member, reader, p);
      if (start !== null) owned.set(p, start); // null: the generation moved on, sync again
    }
    return { settled: owned.size === mine.size, generation };
  }

  /**
   * Where this member starts `p`: the group's committed offset, or, when the group never
   * committed it, the beginning or end per fromBeginning. A start at the end is committed
   * at once, so that records written after it are not skipped if this member dies before
   * its first batch; if that commit is refused (the generation moved on meanwhile), the
   * partition is not started now (null) and the next sync tries again.
   */
  async #startOffset(member: GroupMember, reader: LogReader, p: number): Promise<number | null> {
    const committed = await readCommitted(member.paths, p);
    if (committed !== null) return committed;
    if (this.#opts.fromBeginning) return reader.startOffset(p);
    const end = await reader.endOffset(p);
    const c = await member.commit(p, end);
    return c.ok ? end : null;
  }
}
