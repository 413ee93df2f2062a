/**
 * Group generations: `generations/<generation>.json`, one immutable file per generation,
 * holding the member list and the partitions of each member. The current generation is
 * the highest-numbered file.
 *
 * Why this is safe without a lock: a generation file is created with link(2) of a
 * complete, fsync'd temporary (createFileExclusive), which either creates the name with
 * the whole content or fails with EEXIST. So for each number exactly one assignment ever
 * exists, nobody sees a half-written one, and two members that rebalance at the same time
 * cannot both win: the loser finds the winner's file, reads it and adopts it (and, if its
 * own view of the live members still differs, proposes the next number). Generations only
 * grow, so "is generation G still current" is one readdir away, which is what commits
 * are fenced with. A crashed writer leaves at most a stray temporary, never a lock to
 * take over.
 */
import { readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { createFileExclusive, readJson } from './atomic-file.ts';
import type { GroupPaths } from './group-paths.ts';

const NAME_RE = /^(\d{20})\.json$/;
/** Old generation files kept for diagnosis. */
const KEEP = 8;

/** Contents of a generation file. */
export interface Generation {
  generation: number;
  /** Live members when it was made, sorted. */
  members: string[];
  /** Partitions of each member. */
  assignment: Record<string, number[]>;
  partitions: number;
  strategy: 'round-robin';
  createdBy: string;
  createdAt: number;
}

function generationPath(paths: GroupPaths, generation: number): string {
  return path.join(paths.generations, `${String(generation).padStart(20, '0')}.json`);
}

async function listGenerations(paths: GroupPaths): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(paths.generations);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: number[] = [];
  for (const n of names) {
    const m = NAME_RE.exec(n);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** The current (highest) generation, or null if the group never had one. Stale at once. */
export async function readCurrentGeneration(paths: GroupPaths): Promise<Generation | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const gens = await listGenerations(paths);
    if (gens.length === 0) return null;
    const g = await readJson<Generation>(generationPath(paths, gens[gens.length - 1]));
    if (g !== null) return g;
    // Pruned between readdir and read: a newer one exists, list again.
  }
  throw new Error(`${paths.generations}: the current generation keeps vanishing`);
}

/** Creates generation `g.generation`; false if that number already exists (someone else won). */
export function tryCreateGeneration(paths: GroupPaths, g: Generation): Promise<boolean> {
  return createFileExclusive(generationPath(paths, g.generation), JSON.stringify(g) + '\n');
}

/** Deletes generation files older than the KEEP most recent below `current`. Best effort. */
export async function pruneGenerations(paths: GroupPaths, current: number): Promise<void> {
  for (const g of await listGenerations(paths)) {
    if (g <= current - KEEP) await unlink(generationPath(paths, g)).catch(() => {});
  }
}
