/**
 * What every HTTP worker thread is started with so that an idle one costs little memory
 * (issue 15: 16 workers idle were 27 MB each). Measured with `npm run bench:memory` and
 * /proc/<pid>/smaps (README, "npm run bench:memory"): a worker is mostly a V8 isolate
 * (its heap pages), the malloc arena its thread used while compiling, and the part of the
 * node binary it touches. Two things shrink that without touching the hot path:
 *
 * - **Compile cache** (`NODE_COMPILE_CACHE` in the worker's environment, Node's own
 *   on-disk V8 code cache): a worker deserializes its modules' code instead of parsing and
 *   compiling them, so the parser's and compiler's malloc peak (about 10 MB per worker at
 *   start, freed but left fragmented in the thread's arena) never happens. The first start
 *   from new sources fills it; each worker flushes it once it listens. The main thread
 *   uses the same directory from its preload (src/main/require-node.mjs).
 * - **A memory-reducing GC once the worker listens** (`settleWorkerHeap`): start-up
 *   garbage (module loading, bootstrap) is collected and the heap compacted, which returns
 *   V8's pages; nothing else would run one in a worker that stays idle. The same GC runs
 *   again whenever a worker that served falls quiet for `--heap-release-after` (default 5
 *   minutes, `IdleHeapRelease`), so an idle gateway also gives back what a burst made V8
 *   keep. Needs V8's gc extension, enabled process-wide by `exposeGcToWorkers` before the
 *   first worker starts.
 *
 * - **A heap limit under 2 GiB** (`workerResourceLimits`, `--worker-heap`, default 1 GiB):
 *   V8 copies its embedded builtins (2 MB of machine code) into each isolate's code range
 *   ("short builtin calls") only when the isolate's old generation may reach 2 GiB, which
 *   a worker's default limit (sized from the machine's memory) does here. Under it a
 *   worker calls the builtins where the node binary has them: 16 workers idle went from
 *   262-294 to 241-243 MB RSS, with no difference in decode CPU measured (bench/decode-ab.ts
 *   with --max-old-space-size=1024 against the default: 291-302 vs 294-328 ns per
 *   remote_write sample) nor in throughput (bench/ISSUE-15.md, third round). The limit is also a fence: a worker that leaks or is fed
 *   something pathological dies with ERR_WORKER_OUT_OF_MEMORY and is restarted, instead
 *   of taking the machine's memory.
 *
 * Not done, measured: capping the young generation (`resourceLimits.maxYoungGenerationSizeMb`).
 * After the GC above an idle worker's young generation is small anyway (idle RSS the same
 * with a 2 MB cap). Under load V8 grows it (16 MB, 13.5 MB resident, in a gateway worker
 * after 25 s of load), and a cap trades that for scavenges: decoding 100-metric JSON bodies
 * in a loop, where V8 chose 8 MB (100 scavenges per 20,000 bodies), a 4 MB cap made 202
 * and 2 MB 410, a throughput cost this issue does not allow.
 */
import v8 from 'node:v8';

/**
 * The environment each worker starts with: the process's, plus Node's compile cache in
 * `cacheDir` (undefined: no cache, the process's environment as is).
 */
export function workerEnv(cacheDir: string | undefined): NodeJS.ProcessEnv {
  return cacheDir === undefined ? process.env : { ...process.env, NODE_COMPILE_CACHE: cacheDir };
}

/** The `resourceLimits` a worker starts with: the old-generation limit of --worker-heap. */
export function workerResourceLimits(heapBytes: number): { maxOldGenerationSizeMb: number } {
  return { maxOldGenerationSizeMb: Math.floor(heapBytes / (1024 * 1024)) };
}

let exposed = false;

/**
 * Installs V8's `gc()` in every context created from now on (the workers'), for
 * settleWorkerHeap. A V8 flag is process-wide; this one only adds a global function.
 */
export function exposeGcToWorkers(): void {
  if (exposed) return;
  v8.setFlagsFromString('--expose-gc');
  exposed = true;
}
