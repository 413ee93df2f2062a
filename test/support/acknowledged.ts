/**
 * The check every durability test ends with: each record answered 200 is in the log at
 * the partition and offset its answer named, with its own client and value.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ConsumedLine } from './gateway-process.ts';
import type { Outcome } from './sequential-load.ts';

/** Per partition, the oldest offset still retained: the base of its oldest segment file. */
export async function retainedFrom(dataDir: string, partitions: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: partitions }, async (_, p) => {
      const logs = (await readdir(path.join(dataDir, `partition-${p}`))).filter((f) => f.endsWith('.log'));
      return Math.min(...logs.map((f) => Number.parseInt(f, 10)));
    }),
  );
}

/**
 * The 200s of `outcomes` that `stored` lacks, described, and how many were checked. With
 * `from` (retainedFrom), acknowledged records retention has deleted since are not checked.
 */
export function unstoredAcks(outcomes: Outcome[], stored: ConsumedLine[], from?: number[]): { checked: number; missing: string[] } {
  const byPosition = new Map(stored.map((r) => [`${r.partition}/${r.offset}`, r]));
  let checked = 0;
  const missing: string[] = [];
  for (const o of outcomes) {
    if (o.status !== 200 || (from !== undefined && o.offset! < from[o.partition!])) continue;
    checked++;
    const r = byPosition.get(`${o.partition}/${o.offset}`);
    if (r === undefined || r.key !== o.client || r.value.metrics[0].value !== o.seq) {
      missing.push(`${o.client} seq ${o.seq} at ${o.partition}/${o.offset}: ${r ? `holds ${r.key} ${r.value.metrics[0].value}` : 'absent'}`);
    }
  }
  return { checked, missing };
}
