/**
 * Round-robin assignment, the predecessor's layout: with members sorted by id, partition p
 * goes to member p % n (two members of four partitions: A gets 0,2 and B gets 1,3).
 * Deterministic, so every member computing it from the same member list agrees.
 */

/** Partitions per member id; every member gets an entry, possibly empty. */
export function assignRoundRobin(memberIds: readonly string[], partitions: number): Record<string, number[]> {
  const sorted = [...memberIds].sort();
  const out: Record<string, number[]> = {};
  for (const id of sorted) out[id] = [];
  if (sorted.length === 0) return out;
  for (let p = 0; p < partitions; p++) out[sorted[p % sorted.length]].push(p);
  return out;
}
