/**
 * A worker's last step of starting (src/main/worker-memory.ts says why): write its compile
 * cache, then one memory-reducing full GC, so that an idle worker holds only what it uses.
 * Only memory is at stake: nothing here may stop a worker from serving.
 */

/** V8's gc extension (src/main/worker-memory.ts installs it), as the worker sees it. */
type GcExtension = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Flushes Node's compile cache (when one is enabled) and runs a last-resort GC (full,
 * compacting, releasing free pages; a few ms once per worker) if `gc` is installed.
 */
export function settleWorkerHeap(): void {
  try {
    process.getBuiltinModule('node:module').flushCompileCache?.();
    (globalThis as { gc?: GcExtension }).gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  } catch {
    // A cache that cannot be written or a missing extension: the worker serves as it is.
  }
}
