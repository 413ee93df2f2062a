/**
 * Where a consumer group of the partition log keeps its state, beside the log:
 *
 * ```
 * <data-dir>/groups/<group>/members/<member-id>.json       lease of a live member (member-lease.ts)
 * <data-dir>/groups/<group>/generations/<generation>.json  assignments, one file per generation (generations.ts)
 * <data-dir>/groups/<group>/offsets/partition-<p>.json     committed offset (offset-store.ts)
 * ```
 *
 * Files whose names start with "." are temporaries of an atomic write in progress.
 */
import path from 'node:path';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Throws unless `name` can be a group name or member id: it becomes a file name. */
export function checkName(kind: string, name: string): void {
  if (!NAME_RE.test(name)) {
    throw new Error(`${kind} "${name}" must be 1-200 characters of A-Z a-z 0-9 . _ - (not starting with . _ -)`);
  }
}

/** The directories of one group. */
export interface GroupPaths {
  root: string;
  members: string;
  generations: string;
  offsets: string;
}

/** Directories of `group` in `dataDir` (not created). */
export function groupPaths(dataDir: string, group: string): GroupPaths {
  checkName('group', group);
  const root = path.join(dataDir, 'groups', group);
  return {
    root,
    members: path.join(root, 'members'),
    generations: path.join(root, 'generations'),
    offsets: path.join(root, 'offsets'),
  };
}
