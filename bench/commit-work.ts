/**
 * `npm run bench:commit-work`: counts the work the gateway does per group commit and per
 * acknowledged record, figures that do not depend on how loaded the machine is (unlike
 * requests/s on a shared 2-core VM):
 *
 *   - syscalls of the gateway process (every thread), counted by `perf stat` on the
 *     syscalls:sys_enter_* tracepoints: fdatasync, pwrite64 (the log's page-cache writes),
 *     pwritev (the commit journal's entry: header and every partition's frames in one call),
 *     write (sockets, eventfds that wake a thread), futex;
 *   - context switches and CPU time of the gateway (perf's context-switches, task-clock),
 *     and the voluntary switches alone (/proc/PID/task/TID/status: blocking hand-offs, not
 *     preemptions, so they do not grow with the machine's load);
 *   - block requests the gateway's threads issued and their bytes (perf record of
 *     block:block_rq_issue: the pages fdatasync writes, zeros written ahead, inode writes
 *     ("M": metadata), commit marks). Not /proc/PID/io write_bytes: with large folios in the
 *     page cache (Linux 6.x) a 100-byte write into 4 MiB of written zeros is accounted as
 *     2 MiB dirtied, while the device sees one 4 KiB write;
 *   - commits, records and Atomics.notify calls, from the gateway's shutdown summary.
 *
 * Usage: npm run bench:commit-work -- [--root DIR] [--requests N] [--clients C] [--acks 1]
 *        [--workers W] [--metrics-per-request K] [--json FILE]
 * `--root` runs the gateway of another checkout (e.g. an export of main) for an A/B count.
 * Needs `perf` with access to tracepoints (root, or kernel.perf_event_paranoid <= -1).
 * COMMIT_WORK_BLOCK_DUMP=FILE keeps the `perf script` lines of the block requests (which
 * thread wrote which sector, e.g. to tell inode writes of one file from another).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { runLoad } from '../src/load/run-load.ts';
import { GATEWAY_NODE_FLAGS } from '../src/main/node-flags.ts';

const EVENTS = [
  'syscalls:sys_enter_fdatasync',
  'syscalls:sys_enter_pwrite64',
  'syscalls:sys_enter_pwritev',
  'syscalls:sys_enter_write',
  'syscalls:sys_enter_futex',
  'context-switches',
  'task-clock',
];

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: path.resolve(import.meta.dirname, '..') },
    requests: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '20' },
    workers: { type: 'string', default: '2' },
    acks: { type: 'string', default: '1' },
    'metrics-per-request': { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const root = path.resolve(values.root!);
const clients = Number(values.clients);
const requests = Number(values.requests);

/**
 * Voluntary context switches of every thread of `pid` (a thread that blocks: waits for a
 * wake-up, an I/O, a lock). perf's context-switches also counts preemptions, which grow
 * with the machine's load; these count the hand-offs the design makes.
 */
function voluntarySwitches(pid: number): Map<string, number> {
  const byThread = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const n = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]);
      // Thread groups: the owner (main thread), libuv's pool, HTTP workers, V8's helpers.
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/-\d+$/, '');
      const group = name.startsWith('http-worker') ? 'http-worker' : name;
      byThread.set(group, (byThread.get(group) ?? 0) + n);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return byThread;
}

function total(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

/** Sums `perf script` lines of block:block_rq_issue: requests, bytes, metadata requests. */
function blockRequests(script: string): { requests: number; bytes: number; metadata: number; largest: number; atLeast1MiB: number } {
  let requests = 0;
  let bytes = 0;
  let metadata = 0;
  let largest = 0;
  let atLeast1MiB = 0;
  for (const line of script.split('\n')) {
    // "... block:block_rq_issue: 254,0 WS 4096 () 124792832 + 8 ..."
    const m = /block_rq_issue: \S+ (\S+) (\d+) /.exec(line);
    if (m === null || !m[1].includes('W')) continue;
    requests++;
    bytes += Number(m[2]);
    if (m[1].includes('M')) metadata++;
    largest = Math.max(largest, Number(m[2]));
    if (Number(m[2]) >= 1024 * 1024) atLeast1MiB++;
  }
  return { requests, bytes, metadata, largest, atLeast1MiB };
}

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'commit-work-'));
const gw = spawn(
  process.execPath,
  [...GATEWAY_NODE_FLAGS, '--disable-warning=TimeoutNegativeWarning', '--import', './src/main/require-node.mjs', 'src/main/cli.ts',
    '--port', '0', '--host', '127.0.0.1', '--admin-port', 'off', '--log-level', 'info',
    '--workers', values.workers!, '--acks', values.acks!, '--data-dir', dataDir],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
);
let summary: Record<string, unknown> | undefined;
const port = await new Promise<number>((resolve, reject) => {
  readline.createInterface({ input: gw.stdout! }).on('line', (line) => {
    if (line.includes('listening on')) {
      const m = /"port":(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    }
    if (line.includes('shutdown complete')) summary = JSON.parse(line);
  });
  gw.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening`)));
});
// A short warm-up (JIT, segment files, zeros written ahead) outside the counted window.
await runLoad({ port, clients, requests: 50, metricsPerRequest: Number(values['metrics-per-request']) });

const perf = spawn('perf', ['stat', '-x,', '-e', EVENTS.join(','), '-p', String(gw.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
let perfOut = '';
perf.stderr!.on('data', (d) => (perfOut += d));
await new Promise((r) => setTimeout(r, 300));
const blockData = path.join(dataDir, 'block.perf');
const blockRec = spawn('perf', ['record', '-q', '-o', blockData, '-e', 'block:block_rq_issue', '-p', String(gw.pid)], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 300));
const voluntaryBefore = voluntarySwitches(gw.pid!);
const load = await runLoad({ port, clients, requests, metricsPerRequest: Number(values['metrics-per-request']) });
const voluntaryAfter = voluntarySwitches(gw.pid!);
const voluntary = total(voluntaryAfter) - total(voluntaryBefore);
await Promise.all(
  [perf, blockRec].map((p) => {
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGINT');
    return done;
  }),
);
const script = await new Promise<string>((resolve) => {
  const p = spawn('perf', ['script', '-i', blockData], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.once('exit', () => resolve(out));
});
if (process.env.COMMIT_WORK_BLOCK_DUMP) await writeFile(process.env.COMMIT_WORK_BLOCK_DUMP, script);
const block = blockRequests(script);

const exited = new Promise((r) => gw.once('exit', r));
gw.kill('SIGTERM');
await exited;
await rm(dataDir, { recursive: true, force: true });

const counts: Record<string, number> = {};
for (const line of perfOut.split('\n')) {
  const f = line.split(',');
  const event = EVENTS.find((e) => f[2] === e);
  if (event !== undefined) counts[event.replace('syscalls:sys_enter_', '')] = Number(f[0]);
}
// The shutdown summary counts the whole life (warm-up included): per-commit figures use
// the counted window's records over the summary's average batch.
const acked = load.succeeded;
const avgBatch = Number(summary?.avgCommitBatch ?? NaN);
const commits = acked / avgBatch;
const per = (n: number, d: number) => +(n / d).toFixed(3);
const result = {
  root,
  when: new Date().toISOString(),
  loadavg: os.loadavg().map((x) => +x.toFixed(2)),
  options: { clients, requests, workers: Number(values.workers), acks: Number(values.acks), metricsPerRequest: Number(values['metrics-per-request']) },
  acked,
  statusCodes: load.statusCodes,
  requestsPerSecond: Math.round(load.requestsPerSecond),
  p99ms: load.latencyMs.p99,
  avgCommitBatch: avgBatch,
  /** The largest block write (bytes) and how many were >= 1 MiB: zeros flushed in one go. */
  largestDiskWrite: block.largest,
  diskWritesOf1MiBOrMore: block.atLeast1MiB,
  summary,
  perRecord: {
    fdatasync: per(counts.fdatasync, acked),
    pwrite64: per(counts.pwrite64, acked),
    pwritev: per(counts.pwritev ?? 0, acked),
    write: per(counts.write, acked),
    futex: per(counts.futex, acked),
    contextSwitches: per(counts['context-switches'], acked),
    voluntarySwitches: per(voluntary, acked),
    cpuUs: per(counts['task-clock'] * 1000, acked),
    diskWrites: per(block.requests, acked),
    diskBytes: per(block.bytes, acked),
    inodeWrites: per(block.metadata, acked),
    notifies: summary?.notifies !== undefined ? per(Number(summary.notifies), Number(summary.records)) : null,
  },
  perCommit: {
    fdatasync: per(counts.fdatasync, commits),
    pwrite64: per(counts.pwrite64, commits),
    pwritev: per(counts.pwritev ?? 0, commits),
    contextSwitches: per(counts['context-switches'], commits),
    voluntarySwitches: per(voluntary, commits),
    voluntarySwitchesByThread: Object.fromEntries(
      [...voluntaryAfter].map(([group, n]) => [group, per(n - (voluntaryBefore.get(group) ?? 0), commits)]).filter(([, n]) => (n as number) > 0.01),
    ),
    diskWrites: per(block.requests, commits),
    diskBytes: per(block.bytes, commits),
    inodeWrites: per(block.metadata, commits),
    notifies: summary?.notifies !== undefined ? per(Number(summary.notifies), Number(summary.commits)) : null,
    wakeups: summary?.wakeups !== undefined ? per(Number(summary.wakeups), Number(summary.commits)) : null,
  },
};
console.log(JSON.stringify(result, null, 2));
if (values.json !== undefined) await writeFile(values.json, JSON.stringify(result, null, 2) + '\n');
