/**
 * One process's membership in a consumer group of the partition log, coordinated through
 * files in the data dir only (no server):
 *
 * 1. Lease: the member rewrites `members/<id>.json` every sessionTimeout/3 with an expiry
 *    of now + sessionTimeout; a clean leave deletes it. Expired means gone.
 * 2. Generation: whenever a member sees that the live leases differ from the current
 *    generation's member list, it proposes the next generation (round-robin assignment)
 *    by creating its file exclusively (generations.ts); one proposal per number wins.
 * 3. Revoke before assign: a member reads only partitions its adopted generation gives
 *    it, lists them in its lease ("claims") before reading, and drops them from its lease
 *    only after it stopped reading them. A newly assigned partition is started only when,
 *    after publishing the claim, the generation is still current and no other live lease
 *    claims it. Two members can therefore not read one partition at once (except past an
 *    expired lease, see leaseValid).
 * 4. Commits are fenced: refused unless the generation on disk is the one this member
 *    adopted, the partition is assigned to it there, and its own lease is comfortably
 *    valid.
 *
 * A member that dies holding partitions keeps them until its lease expires; the others
 * notice on their next heartbeat (or at once through fs.watch), make a generation without
 * it and start its partitions from the committed offsets: at most about 4/3 of the
 * session timeout.
 */
import { randomUUID } from 'node:crypto';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { assignRoundRobin } from './assignor.ts';
import { pruneGenerations, readCurrentGeneration, tryCreateGeneration } from './generations.ts';
import type { Generation } from './generations.ts';
import { checkName, groupPaths } from './group-paths.ts';
import type { GroupPaths } from './group-paths.ts';
import { listLeases, newLease, readLease, removeLease, writeLease } from './member-lease.ts';
import { writeCommitted } from './offset-store.ts';

export interface GroupMemberOptions {
  dataDir: string;
  group: string;
  /** Partition count of the log (meta.json). */
  partitions: number;
  memberId?: string;
  sessionTimeoutMs: number;
  /** Called (synchronously, keep it cheap) when the generation, a lease or this lease's state changed. */
  onChange: () => void;
  /** Told about background failures (a lease write that failed, say). */
  onWarning?: (message: string) => void;
}

/** Outcome of a commit: refused ones name why. */
export type CommitOutcome = { ok: true } | { ok: false; reason: string };

/** A member id unique on this machine and across restarts. */
export function defaultMemberId(): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 60) || 'host';
  return `${host}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Membership of one process in one group. Create with GroupMember.join. */
export class GroupMember {
  readonly memberId: string;
  readonly paths: GroupPaths;
  readonly sessionTimeoutMs: number;
  readonly #partitions: number;
  readonly #opts: GroupMemberOptions;
  /** The generation adopted: the newest one seen. */
  #current: Generation | null = null;
  #claims: number[] = [];
  /** Expiry in the last lease write that completed. */
  #expiresAt = 0;
  #lapsed = false;
  #left = false;
  /** Other live members and their claims, as last listed. */
  #others = '';
  /** Lease writes and coordination steps run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #beating = false;
  #checkTimer: NodeJS.Timeout | null = null;
  #watchers: FSWatcher[] = [];

  private constructor(opts: GroupMemberOptions, memberId: string) {
    this.#opts = opts;
    this.memberId = memberId;
    this.paths = groupPaths(opts.dataDir, opts.group);
    this.sessionTimeoutMs = opts.sessionTimeoutMs;
    this.#partitions = opts.partitions;
  }

  /**
   * Registers a lease, makes or adopts a generation that includes this member (unless
   * another member's view of the group is behind; the next heartbeat fixes that), and
   * starts heartbeating every sessionTimeout/3.
   */
  static async join(opts: GroupMemberOptions): Promise<GroupMember> {
    if (!(opts.sessionTimeoutMs >= 100)) throw new RangeError(`sessionTimeoutMs must be >= 100, got ${opts.sessionTimeoutMs}`);
    const id = opts.memberId ?? defaultMemberId();
    checkName('member id', id);
    const m = new GroupMember(opts, id);
    for (const dir of [m.paths.members, m.paths.generations, m.paths.offsets]) await mkdir(dir, { recursive: true });
    // Two live processes under one id would share one lease and read the same partitions.
    const existing = await readLease(m.paths, id);
    if (existing !== null && existing.expiresAt > Date.now() && (existing.pid !== process.pid || existing.host !== hostname())) {
      throw new Error(
        `member id ${id} is in use in group ${opts.group} by process ${existing.pid} on ${existing.host} ` +
          `(its lease runs until ${new Date(existing.expiresAt).toISOString()}); member ids must be unique`,
      );
    }
    await m.#exclusive(() => m.#heartbeat());
    m.#timer = setInterval(() => {
      if (m.#beating) return; // a stalled disk must not pile up heartbeats
      m.#beating = true;
      m.#exclusive(() => m.#heartbeat())
        .catch(() => {}) // reported by #exclusive
        .finally(() => (m.#beating = false));
    }, Math.max(30, Math.floor(opts.sessionTimeoutMs / 3)));
    for (const dir of [m.paths.members, m.paths.generations]) {
      try {
        const w = watch(dir, () => m.#scheduleCheck());
        w.on('error', () => w.close()); // the heartbeat still checks
        m.#watchers.push(w);
      } catch {
        // No inotify (or out of watches): the heartbeat alone still converges.
      }
    }
    return m;
  }

  /** The generation this member adopted (newest seen), or null before there is one. */
  get generation(): Generation | null {
    return this.#current;
  }

  /** Partitions the adopted generation assigns to this member. */
  assigned(): number[] {
    return this.#current?.assignment[this.memberId] ?? [];
  }

  /**
   * Whether this member's lease is safely valid now: not within sessionTimeout/3 of its
   * expiry. Others take over a member's partitions only after the expiry itself, so a
   * member that reads and commits only while this holds stops at least that margin before
   * anyone else starts, unless one batch outlasts the margin (a stopped or starved
   * process): then the other member may handle the same records too, and this member's
   * commit is refused.
   */
  leaseValid(): boolean {
    return !this.#lapsed && !this.#left && Date.now() < this.#expiresAt - this.sessionTimeoutMs / 3;
  }

  /**
   * True after the lease ran out (the process was stopped or starved): the caller must
   * drop every partition without committing, then call ackLapse().
   */
  get lapsed(): boolean {
    return this.#lapsed;
  }

  /**
   * Writes the lease now instead of waiting for the next heartbeat (after a long batch on a
   * starved process the heartbeat may be late). If the previous lease had already run out,
   * this turns into a lapse (see `lapsed`): the caller must then drop its partitions.
   */
  renew(): Promise<void> {
    if (this.#left || this.#lapsed) return Promise.resolve();
    return this.#exclusive(() => this.#writeLease());
  }

  /** The caller dropped every partition after a lapse; read and commit again from now on. */
  async ackLapse(): Promise<void> {
    this.#lapsed = false;
    await this.setClaims([]);
  }

  /**
   * Publishes the partitions this member reads (or is about to start) in its lease, and
   * resolves once the lease file says so. Releasing a partition (leaving it out) must
   * happen only after reading it stopped; claiming one must happen before reading it.
   */
  setClaims(partitions: Iterable<number>): Promise<void> {
    const claims = [...new Set(partitions)].sort((a, b) => a - b);
    if (claims.length === this.#claims.length && claims.every((p, i) => p === this.#claims[i])) {
      return this.#exclusive(async () => {}); // unchanged: only wait for a write in flight
    }
    this.#claims = claims;
    return this.#exclusive(() => this.#writeLease());
  }

  /** Partitions claimed by other live members now. */
  async claimsOfOthers(): Promise<Set<number>> {
    const { live } = await listLeases(this.paths, Date.now());
    const out = new Set<number>();
    for (const l of live) if (l.memberId !== this.memberId) for (const p of l.claims ?? []) out.add(p);
    return out;
  }

  /** Reads the current generation from disk and adopts it if newer. */
  async refreshGeneration(): Promise<Generation | null> {
    const g = await readCurrentGeneration(this.paths);
    this.#adopt(g);
    return g;
  }

  /**
   * Commits `offset` (the next offset to read) for `partition`, durably, if this member
   * may: it is in the generation on disk, that generation is the one it adopted, it is
   * assigned the partition there, and its lease is safely valid. Otherwise refuses (and
   * adopts the newer generation, if that was the reason). Throws only on I/O errors.
   */
  async commit(partition: number, offset: number): Promise<CommitOutcome> {
    if (this.#left) return { ok: false, reason: 'member left the group' };
    // A long batch may end close to the lease's expiry: renew it first (a lease that had run
    // out becomes a lapse instead, and the commit is refused).
    if (!this.leaseValid()) await this.renew().catch(() => {});
    if (!this.leaseValid()) return { ok: false, reason: 'lease expired or about to' };
    const adopted = this.#current?.generation ?? 0;
    const onDisk = await readCurrentGeneration(this.paths);
    if (onDisk === null || onDisk.generation !== adopted) {
      this.#adopt(onDisk);
      return { ok: false, reason: `stale generation ${adopted} (current ${onDisk?.generation ?? 'none'})` };
    }
    if (!(onDisk.assignment[this.memberId] ?? []).includes(partition)) {
      return { ok: false, reason: `partition ${partition} is not assigned to ${this.memberId} in generation ${adopted}` };
    }
    await writeCommitted(this.paths, {
      partition,
      offset,
      generation: adopted,
      memberId: this.memberId,
      committedAt: Date.now(),
    });
    return { ok: true };
  }

  /**
   * Leaves the group: stops heartbeating, deletes the lease and, so that the others need
   * not wait for their watch or heartbeat, proposes the next generation without this
   * member. Call it only after reading stopped. Idempotent.
   */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#checkTimer) clearTimeout(this.#checkTimer);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    await this.#queue.catch(() => {});
    await removeLease(this.paths, this.memberId);
    try {
      await this.#rebalanceIfNeeded();
    } catch {
      // The others will do it on their next heartbeat.
    }
  }

  #exclusive<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step, step);
    this.#queue = run.catch((err: unknown) => {
      if (!this.#left) this.#opts.onWarning?.(`group ${this.#opts.group}: ${(err as Error).message}`);
    });
    return run;
  }

  #scheduleCheck(): void {
    if (this.#left || this.#checkTimer !== null) return;
    // Coalesces the burst of events one rename makes (temporary created, renamed).
    this.#checkTimer = setTimeout(() => {
      this.#checkTimer = null;
      this.#exclusive(async () => {
        if (this.#left) return;
        await this.#rebalanceIfNeeded();
      }).catch(() => {}); // reported by #exclusive
    }, 15);
  }

  async #heartbeat(): Promise<void> {
    if (this.#left) return;
    await this.#writeLease();
    await this.#rebalanceIfNeeded();
  }

  async #writeLease(): Promise<void> {
    if (this.#left) return;
    const previous = this.#expiresAt;
    const expiresAt = Date.now() + this.sessionTimeoutMs;
    await writeLease(this.paths, newLease(this.memberId, expiresAt, this.#claims, this.#current?.generation ?? 0));
    this.#expiresAt = expiresAt;
    if (previous !== 0 && Date.now() >= previous && !this.#lapsed) {
      // The previous lease ran out before this one landed (the process was stopped or
      // starved): others may already have moved our partitions. Claim nothing; the reader
      // drops everything (no commit) and calls ackLapse() before it claims again.
      this.#lapsed = true;
      this.#claims = [];
      await writeLease(this.paths, newLease(this.memberId, expiresAt, [], this.#current?.generation ?? 0));
      this.#opts.onChange();
    }
  }

  /** Proposes a new generation if the live leases differ from the current one's members; adopts the current one. */
  async #rebalanceIfNeeded(): Promise<void> {
    const now = Date.now();
    const { live, expired } = await listLeases(this.paths, now);
    // Leases of members long gone (crashed) are removed so the directory does not grow.
    // Only long after expiry: a member that was merely stopped renews its lease when it
    // runs again, and deleting the file just as it is renewed would hide a live member.
    const grace = Math.max(10 * this.sessionTimeoutMs, 60_000);
    for (const l of expired) if (now > l.expiresAt + grace) await removeLease(this.paths, l.memberId).catch(() => {});
    const ids = live.map((l) => l.memberId).filter((id) => !(this.#left && id === this.memberId));
    // Another member released (or died holding) a partition we may be waiting for.
    const others = live
      .filter((l) => l.memberId !== this.memberId)
      .map((l) => `${l.memberId}:${(l.claims ?? []).join(',')}`)
      .join(' ');
    if (others !== this.#others) {
      this.#others = others;
      if (!this.#left) this.#opts.onChange();
    }
    let cur = await readCurrentGeneration(this.paths);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (cur !== null && sameMembers(cur.members, ids) && cur.partitions === this.#partitions) break;
      const next: Generation = {
        generation: (cur?.generation ?? 0) + 1,
        members: ids,
        assignment: assignRoundRobin(ids, this.#partitions),
        partitions: this.#partitions,
        strategy: 'round-robin',
        createdBy: this.memberId,
        createdAt: Date.now(),
      };
      if (await tryCreateGeneration(this.paths, next)) {
        cur = next;
        await pruneGenerations(this.paths, next.generation);
        break;
      }
      cur = await readCurrentGeneration(this.paths); // someone else's proposal won
    }
    if (!this.#left) this.#adopt(cur);
  }

  #adopt(g: Generation | null): void {
    if (g === null || (this.#current !== null && g.generation <= this.#current.generation)) return;
    this.#current = g;
    this.#opts.onChange();
  }
}
