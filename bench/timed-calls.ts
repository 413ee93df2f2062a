/**
 * The timing loop of the micro-benchmarks: calls `fn` in batches (so reading the clock
 * costs little) until `ms` have passed.
 */
export function timedCalls(fn: () => void, ms: number, batch: number): { calls: number; elapsedMs: number } {
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < batch; k++) fn();
    calls += batch;
    now = performance.now();
  }
  return { calls, elapsedMs: now - start };
}
