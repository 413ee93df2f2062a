/**
 * Lag of a consumer group on the partition log: how far its committed offsets are behind
 * the end of each partition. For `--show-lag` and for a metrics endpoint.
 */
import { LogReader } from '../../log/log-reader.ts';
import type { PartitionLag } from '../types.ts';
import { groupPaths } from './group-paths.ts';
import { readCommitted } from './offset-store.ts';

/**
 * Lag of `group` per partition of the log in `dataDir`, as of now (stale at once). Works
 * whether or not any member runs; reads files only. Throws if `dataDir` holds no log.
 */
export async function logGroupLag(dataDir: string, group: string): Promise<PartitionLag[]> {
  const paths = groupPaths(dataDir, group);
  const reader = await LogReader.open(dataDir);
  try {
    const out: PartitionLag[] = [];
    for (let p = 0; p < reader.partitions; p++) {
      const committed = await readCommitted(paths, p);
      const end = await reader.endOffset(p);
      const from = committed ?? (await reader.startOffset(p));
      out.push({ partition: p, endOffset: end, committedOffset: committed, lag: Math.max(0, end - from) });
    }
    return out;
  } finally {
    await reader.close();
  }
}
