/**
 * Committed offsets: `offsets/partition-<p>.json`, the next offset the group will read in
 * partition p. One file per partition, so members committing different partitions never
 * rewrite each other's data. Each commit is write-temp + fsync + rename + fsync of the
 * directory: after a crash the file holds the old or the new offset, never a torn one.
 */
import path from 'node:path';
import { readJson, replaceFile } from './atomic-file.ts';
import type { GroupPaths } from './group-paths.ts';

/** Contents of an offset file. */
export interface CommittedOffset {
  partition: number;
  offset: number;
  /** Generation and member that committed it (for diagnosis). */
  generation: number;
  memberId: string;
  committedAt: number;
}

function offsetPath(paths: GroupPaths, partition: number): string {
  return path.join(paths.offsets, `partition-${partition}.json`);
}

/** The group's committed offset of `partition`, or null if it never committed one. */
export async function readCommitted(paths: GroupPaths, partition: number): Promise<number | null> {
  const c = await readJson<CommittedOffset>(offsetPath(paths, partition));
  return c !== null && Number.isSafeInteger(c.offset) && c.offset >= 0 ? c.offset : null;
}

/**
 * Durably records `offset` as partition's committed offset. No fencing here: callers go
 * through GroupMember.commit, which checks the generation first.
 */
export function writeCommitted(paths: GroupPaths, c: CommittedOffset): Promise<void> {
  return replaceFile(offsetPath(paths, c.partition), JSON.stringify(c) + '\n', true);
}
