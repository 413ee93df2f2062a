/**
 * Member leases: `members/<member-id>.json`, rewritten by its member every sessionTimeout/3
 * with a new expiry. A member whose lease has expired is gone, whatever its process is
 * doing; a clean leave deletes the file. The lease also lists the partitions the member
 * is reading ("claims"): a member starts a newly assigned partition only once no other
 * live lease claims it, which is how a partition is revoked before it is assigned.
 */
import { readdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { readJson, replaceFile } from './atomic-file.ts';
import type { GroupPaths } from './group-paths.ts';

const SUFFIX = '.json';

/** Contents of a lease file. */
export interface MemberLease {
  memberId: string;
  pid: number;
  host: string;
  /** ms since the epoch after which the member counts as gone. */
  expiresAt: number;
  /** Partitions the member reads now, or is about to start (sorted). */
  claims: number[];
  /** The generation the member last adopted (for humans; the protocol does not need it). */
  generation: number;
}

/** A lease for this process. */
export function newLease(memberId: string, expiresAt: number, claims: number[], generation: number): MemberLease {
  return { memberId, pid: process.pid, host: hostname(), expiresAt, claims, generation };
}

function leasePath(paths: GroupPaths, memberId: string): string {
  return path.join(paths.members, memberId + SUFFIX);
}

/**
 * Writes (replaces) a member's lease atomically. Not fsync'd: after a machine crash every
 * lease is meaningless (its process is gone) and an expired one is all a reader needs.
 */
export function writeLease(paths: GroupPaths, lease: MemberLease): Promise<void> {
  return replaceFile(leasePath(paths, lease.memberId), JSON.stringify(lease) + '\n', false);
}

/** A member's lease as it is now, or null if it has none. */
export function readLease(paths: GroupPaths, memberId: string): Promise<MemberLease | null> {
  return readJson<MemberLease>(leasePath(paths, memberId));
}

/** Deletes a member's lease (a clean leave). Missing is fine. */
export async function removeLease(paths: GroupPaths, memberId: string): Promise<void> {
  await unlink(leasePath(paths, memberId)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** The group's leases as listed now: `live` ones (sorted by member id) and expired ones. */
export async function listLeases(paths: GroupPaths, now: number): Promise<{ live: MemberLease[]; expired: MemberLease[] }> {
  let names: string[];
  try {
    names = await readdir(paths.members);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { live: [], expired: [] };
    throw err;
  }
  const live: MemberLease[] = [];
  const expired: MemberLease[] = [];
  for (const name of names) {
    if (name.startsWith('.') || !name.endsWith(SUFFIX)) continue;
    const lease = await readJson<MemberLease>(path.join(paths.members, name));
    if (lease === null) continue; // left between readdir and read
    lease.memberId = name.slice(0, -SUFFIX.length); // the name is what counts
    if (typeof lease.expiresAt === 'number' && lease.expiresAt > now) live.push(lease);
    else expired.push(lease);
  }
  live.sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  return { live, expired };
}
