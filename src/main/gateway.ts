/**
 * The supervisor: opens the sink, gives every HTTP worker its own ring, runs the owner
 * loop on this (the main) thread, and shuts everything down in order on SIGTERM/SIGINT.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { LogSink } from '../log/log-sink.ts';
import { FRAME_OVERHEAD, MAX_FRAME_BYTES } from '../log/record-frame.ts';
import { createDoorbellStorage, Doorbell } from '../ring/doorbell.ts';
import { RingReader } from '../ring/ring-reader.ts';
import { readRingCounters } from '../ring/ring-counters.ts';
import { createRingStorage, type RingStorage } from '../ring/ring-storage.ts';
import type { DiskWorkSignal } from '../log/stall-watch.ts';
import type { Sink } from '../sink/sink.ts';
import { settlesWithin } from '../sink/settles-within.ts';
import type { HttpWorkerData, WorkerMessage } from '../workers/http-worker.ts';
import type { GatewayConfig } from './config.ts';
import { createGatewayStateStorage, GatewayState } from './gateway-state.ts';
import { Owner } from './owner.ts';
import { createGatewayMetrics, type WorkerView } from './admin-metrics.ts';
import { startAdminServer, type AdminServer } from './admin-server.ts';
import { DEFAULT_MAX_CONNECTIONS, overBudgetWarning } from './descriptor-budget.ts';
import { createWorkerMetricsStorage } from '../workers/worker-metrics.ts';
import { AuthSupervisor, type ReloadResult } from '../auth/auth-supervisor.ts';
import { registerTenantMetrics } from '../auth/tenant-admin-metrics.ts';
import { siblingModuleUrl } from './module-url.ts';
import { claimPort } from './port-guard.ts';
import { compileCacheDir, workerModuleUrl } from './worker-js.ts';
import { exposeGcToWorkers, workerEnv, workerResourceLimits } from './worker-memory.ts';

const WORKER_URL = siblingModuleUrl('../workers/http-worker', import.meta.url);
/**
 * After the flush deadline: how long the sink has to give up its append in flight (and
 * the workers to answer) before the owner abandons that append, and again before workers
 * still not finished are terminated. A bound on bugs; a working sink needs milliseconds.
 */
const GIVE_UP_GRACE_MS = 1000;

export interface RunningGateway {
  port: number;
  /** The Prometheus port, or undefined with --admin-port off. */
  adminPort: number | undefined;
  owner: Owner;
  sink: Sink;
  rings: RingStorage[];
  /** Resolves with the exit code once shutdown finished. */
  done: Promise<number>;
  shutdown(reason: string): Promise<number>;
  /**
   * SIGHUP: re-reads the auth file and TLS files, gives every worker the new ones and
   * resolves once each running worker applied them (logged as 'reload (SIGHUP)').
   */
  reload(): Promise<ReloadResult>;
}

/** `diskWork`: told when the sink's local disk work begins and ends (GatewayState). */
export async function createSink(config: GatewayConfig, logger: Logger, diskWork?: DiskWorkSignal): Promise<Sink> {
  if (config.mode === 'file') {
    return new LogSink({ dataDir: config.dataDir, partitions: config.partitions, segmentBytes: config.segmentBytes, retentionBytes: config.retentionBytes, journalBytes: config.journalBytes, acceptDataLoss: config.acceptDataLoss, stallTimeoutMs: config.diskStallTimeoutMs, diskWork, logger });
  }
  const { createKafkaSink } = await import('../kafka/create-kafka-sink.ts');
  return createKafkaSink(config, logger, diskWork);
}

interface WorkerSlot {
  id: number;
  worker: Worker;
  ring: RingStorage;
  metrics: SharedArrayBuffer;
  /** Its per-tenant counters (src/auth/tenant-metrics.ts). */
  tenantMetrics: SharedArrayBuffer;
  drained: boolean;
  /** Requests the worker answered, reported when it drained. */
  requests: number;
  /** The last auth reload generation the worker applied. */
  authGeneration: number;
  /** Ring counters of the rings of this slot's dead workers, so totals never go backwards. */
  retired: { recordsWritten: number; refusedFull: number };
  /** Crashes in a row (reset once a worker stayed up RESTART_RESET_MS): the backoff. */
  crashes: number;
  startedAt: number;
}

/** Restart backoff for a worker that died: 100 ms doubling to 5 s, reset after 30 s up. */
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;
const RESTART_RESET_MS = 30_000;

/**
 * Completion slots per ring: the most records a worker may have awaiting the owner at
 * once. A worker holds one per request in flight, and requests in flight are bounded by
 * its connections (one at a time each), so 4 x --max-connections (at least 4096) leaves
 * room for --acks 0 bursts; the ring's own default (one per 64 bytes of data: 262,144
 * slots, 4 MiB, for the default 16 MiB ring) is the upper bound. The area is touched as
 * records pass, so under load an oversized one is resident memory in every worker.
 */
export function completionSlots(ringBytes: number, maxConnections: number): number {
  const wanted = 2 ** Math.ceil(Math.log2(Math.max(4096, 4 * maxConnections)));
  return Math.min(Math.max(1024, ringBytes / 64), wanted);
}

export async function startGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  // First: a missing or invalid auth file or certificate stops the start before anything opens.
  const auth = new AuthSupervisor(config, logger);
  const overBudget = overBudgetWarning(config.maxConnections, config.workers, config.partitions, config.descriptorLimit);
  if (overBudget !== undefined) logger.warn({ what: 'descriptor_limit', limit: config.descriptorLimit }, overBudget);
  if (config.maxConnectionsLoweredBy !== undefined) {
    logger.info(
      { limit: config.maxConnectionsLoweredBy, maxConnections: config.maxConnections },
      `--max-connections ${config.maxConnections} per worker: what the descriptor limit (ulimit -n ${config.maxConnectionsLoweredBy}) leaves ${config.workers} workers; raise it for the default ${DEFAULT_MAX_CONNECTIONS}`,
    );
  }
  // Before anything else: a second gateway on a served port must not start (see port-guard.ts).
  const portLock = await claimPort(config.host, config.port);
  const stateStorage = createGatewayStateStorage();
  const state = new GatewayState(stateStorage);
  let sink: Sink;
  try {
    sink = await createSink(config, logger, state.diskWorkSignal());
    await sink.open();
  } catch (e) {
    portLock?.release();
    throw e;
  }
  state.ready = sink.isReady();
  // The owner loop's tick: readiness for the workers, and a beat that says this thread runs
  // (a worker that sees disk work stalled and no beat says the disk holds this thread).
  state.beat();
  const readiness = setInterval(() => {
    state.beat();
    const ready = sink.isReady();
    if (ready !== state.ready) logger.info({ sink: sink.name }, ready ? 'sink up' : 'sink down');
    state.ready = ready;
    state.stalled = sink.stalled?.() ?? false;
  }, 200);
  readiness.unref();
  const doorbellStorage = createDoorbellStorage();
  let workerUrl = WORKER_URL;
  try {
    workerUrl = workerModuleUrl(WORKER_URL);
  } catch (e) {
    // Only memory is at stake (worker-js.ts): the workers strip their own types then.
    logger.warn({ err: (e as Error).message }, 'could not prepare the workers as JavaScript; they run the TypeScript sources');
  }
  // What each worker starts with for memory (worker-memory.ts).
  exposeGcToWorkers();
  const workerOptions = { env: workerEnv(compileCacheDir(workerUrl)), resourceLimits: workerResourceLimits(config.workerHeapBytes) };
  const slots: WorkerSlot[] = [];
  const metrics = createGatewayMetrics(
    () => slots.map((s): WorkerView => ({ id: s.id, ring: s.ring, metrics: s.metrics, retired: s.retired, heap: () => s.worker.getHeapStatistics() })),
    sink,
    () => owner.ringCount,
  );
  const owner = new Owner(new Doorbell(doorbellStorage), sink, {
    maxPendingBytes: config.maxBatchBytes,
    onDrain: metrics.drained,
    onCommit: metrics.committed,
  });
  if (config.auth === 'tokens') registerTenantMetrics(metrics.registry, () => auth.slots.names, () => slots.map((s) => s.tenantMetrics));
  const ownerDone = owner.run();
  let admin: AdminServer | undefined;
  try {
    admin = config.adminPort >= 0 ? await startAdminServer(metrics.registry, { host: config.adminHost, port: config.adminPort, bodyTimeoutMs: config.bodyTimeoutMs, logger }) : undefined;
  } catch (e) {
    clearInterval(readiness);
    owner.stop();
    await ownerDone;
    await sink.close();
    portLock?.release();
    throw new Error(`admin port ${config.adminPort}: ${(e as Error).message} (use --admin-port N or off)`);
  }
  let shuttingDown = false;
  /** Shutdown terminates workers still busy past the flush deadline: an expected exit. */
  let terminating = false;
  let started = false;
  let port = config.port;

  /** Starts worker `id`; `previous` is the dead worker it replaces (its counters go on). */
  const spawn = (id: number, previous?: WorkerSlot): WorkerSlot => {
    const ring = createRingStorage(config.ringBytes, completionSlots(config.ringBytes, config.maxConnections));
    // The request counters live on in the replacement: a worker's sums never go backwards.
    const workerMetrics = previous?.metrics ?? createWorkerMetricsStorage();
    const workerAuth = auth.workerData(previous?.tenantMetrics);
    const reader = new RingReader(ring);
    owner.addRing(reader);
    const workerData: HttpWorkerData = {
      workerId: id,
      ring,
      doorbell: doorbellStorage,
      state: stateStorage,
      metrics: workerMetrics,
      host: config.host,
      port,
      partitions: config.partitions,
      acks: config.acks === 0 ? 0 : 1,
      maxBody: config.maxBody,
      maxDecodedBody: config.maxDecodedBody,
      maxRecordValue: MAX_FRAME_BYTES - FRAME_OVERHEAD,
      maxInflightBytes: config.maxInflightBytes,
      maxConnections: config.maxConnections,
      bodyTimeoutMs: config.bodyTimeoutMs,
      diskStallTimeoutMs: config.diskStallTimeoutMs,
      logErrors: logger.isLevelEnabled('error'),
      heapReleaseAfterMs: config.heapReleaseAfterMs,
      storeFormat: config.valueFormat,
      auth: workerAuth,
    };
    const slot: WorkerSlot = {
      id,
      worker: new Worker(workerUrl, { ...workerOptions, workerData, name: `http-worker-${id}` }),
      ring,
      metrics: workerMetrics,
      tenantMetrics: workerAuth.tenantMetrics,
      drained: false,
      requests: 0,
      authGeneration: 0,
      retired: previous?.retired ?? { recordsWritten: 0, refusedFull: 0 },
      crashes: previous?.crashes ?? 0,
      startedAt: performance.now(),
    };
    slot.worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'drained') {
        slot.drained = true;
        slot.requests = m.requests;
      } else if (m.type === 'auth-applied') {
        slot.authGeneration = m.generation;
      } else if (m.type === 'warn') {
        // Already rate-limited by the worker: at most one line per kind per second.
        logger.warn({ worker: id, what: m.what, count: m.count, detail: m.detail }, m.msg);
      }
    });
    slot.worker.on('error', (err) => logger.error({ err, worker: id }, 'worker failed'));
    slot.worker.on('exit', (code) => {
      if (!started || (shuttingDown && (slot.drained || terminating))) return;
      // The dead worker wrote its last record: its ring counters are final. Count them
      // as retired, let the owner drain and commit what is left in the ring, then forget
      // the ring (its memory goes with it).
      const last = readRingCounters(ring);
      slot.retired.recordsWritten += last.recordsWritten;
      slot.retired.refusedFull += last.refusedFull;
      const unread = last.recordsWritten - last.recordsRead;
      void owner.retireRing(reader).then(() => logger.info({ worker: id, records: unread }, 'dead worker\'s ring drained and released'));
      if (performance.now() - slot.startedAt > RESTART_RESET_MS) slot.crashes = 0;
      const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** slot.crashes);
      slot.crashes++;
      metrics.workerRestarted();
      logger.error({ worker: id, code, restartInMs: delay, crashesInARow: slot.crashes, unreadRecords: unread }, 'worker exited unexpectedly; restarting it on a fresh ring');
      setTimeout(() => {
        if (shuttingDown) return;
        const replacement = spawn(id, slot);
        slots[slots.indexOf(slot)] = replacement;
        listening(replacement).catch((err: Error) => logger.error({ worker: id, err: err.message }, 'replacement worker failed to listen'));
      }, delay).unref();
    });
    return slot;
  };

  const listening = (slot: WorkerSlot): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.type !== 'listening') return;
        cleanup();
        logger.info({ worker: slot.id, threadId: slot.worker.threadId, port: m.port }, 'worker up');
        resolve(m.port);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`worker ${slot.id} exited with code ${code} before listening (is port ${port} in use?)`));
      };
      const cleanup = () => {
        slot.worker.off('message', onMessage);
        slot.worker.off('exit', onExit);
      };
      slot.worker.on('message', onMessage);
      slot.worker.on('exit', onExit);
    });

  try {
    // The first worker binds (port 0 resolves to a free port); the rest join its port.
    slots.push(spawn(0));
    port = await listening(slots[0]);
    for (let i = 1; i < config.workers; i++) slots.push(spawn(i));
    await Promise.all(slots.slice(1).map(listening));
    started = true;
  } catch (e) {
    shuttingDown = true;
    clearInterval(readiness);
    await Promise.all(slots.map((s) => s.worker.terminate()));
    owner.stop();
    await ownerDone;
    await admin?.close();
    await sink.close();
    portLock?.release();
    throw e;
  }

  let finished: (code: number) => void;
  const done = new Promise<number>((resolve) => (finished = resolve));
  let shutdownPromise: Promise<number> | undefined;

  const shutdown = (reason: string): Promise<number> => {
    shutdownPromise ??= (async () => {
      shuttingDown = true;
      const started = performance.now();
      // --flush-timeout from now bounds the drain and then the sink's close (below).
      const deadline = Date.now() + config.flushTimeoutMs;
      logger.info({ reason }, 'shutdown: no new requests, draining rings');
      state.draining = true;
      const unread = slots.reduce((a, w) => {
        const ring = readRingCounters(w.ring);
        return a + ring.recordsWritten - ring.recordsRead;
      }, 0);
      metrics.setShutdownPending(owner.pendingRecords + unread);
      // Records that end undelivered from here on: the owner counts their outcomes.
      const failedBefore = owner.stats.recordsFailed;
      const unknownBefore = owner.stats.recordsUnknown;
      const exits = slots.map((s) => (s.worker.threadId === -1 ? Promise.resolve() : once(s.worker, 'exit')));
      for (const s of slots) s.worker.postMessage({ type: 'drain' });
      const workersDone = Promise.all(exits);
      // --flush-timeout bounds the whole drain, not only the sink's close. Workers answer
      // each request once its record is completed; at the deadline the sink gives up on
      // what it has in flight (those records complete as "unknown", 504, or are spilled
      // with --fallback file, 202), every later append fails at once (503) or is spilled,
      // so every worker can answer and exit. The local log's append cannot be given up
      // (a write or fdatasync the disk does not return is stuck in the kernel): the owner
      // abandons it, and the log's close stops waiting once the disk is known stalled.
      let closing: Promise<number> | undefined;
      if (!(await settlesWithin(workersDone, deadline - Date.now()))) {
        logger.warn(
          { flushTimeoutMs: config.flushTimeoutMs, inFlight: owner.pendingRecords },
          'shutdown: flush deadline reached; records not acknowledged by now are answered 504 (sent, outcome unknown) or 503 (not sent)',
        );
        // A sink with a local fallback spills what is left; any other one closes.
        if (sink.giveUpRemote !== undefined) void sink.giveUpRemote();
        else closing = sink.close(Date.now());
        if (!(await settlesWithin(workersDone, GIVE_UP_GRACE_MS))) {
          if (owner.pendingRecords > 0) {
            logger.error({ records: owner.pendingRecords }, 'shutdown: the sink did not give up its append in time; completing it as outcome unknown');
            owner.abandon();
          }
          if (!(await settlesWithin(workersDone, GIVE_UP_GRACE_MS))) {
            // e.g. a request body still arriving: its client gets a reset, not a 408
            logger.error('shutdown: workers still have open requests after the flush deadline; terminating them');
            terminating = true;
            await Promise.all(slots.map((s) => s.worker.terminate()));
          }
        }
      }
      await workersDone;
      owner.stop();
      await ownerDone;
      clearInterval(readiness);
      await admin?.close();
      const kept = await (closing ?? sink.close(deadline));
      // A disk that never returned the work given up on: the data dir is left as a crash
      // leaves it, and a service manager should hear that this stop was not clean.
      const diskStuck = sink.stalled?.() === true;
      portLock?.release();
      const unknown = owner.stats.recordsUnknown - unknownBefore;
      const notStored = owner.stats.recordsFailed - failedBefore - unknown;
      const undelivered = unknown + notStored + kept;
      // Kafka mode always says it (the predecessor's shutdown warned only by chance);
      // the local log has nothing to report unless something went wrong.
      if (undelivered > 0 || sink.name !== 'log') {
        const parts = [`${unknown} sent without acknowledgement (answered 504: may be stored)`, `${notStored} not stored (answered 503/413)`];
        if (kept > 0) parts.push(`${kept} kept in the local spill (answered 202, replayed at the next start)`);
        process.stderr.write(
          `metricstream: ${undelivered} record(s) still undelivered at shutdown (${sink.name}): ${parts.join(', ')}; none of them was answered 200\n`,
        );
      }
      const s = owner.stats;
      logger.info(
        {
          records: s.recordsCommitted,
          failed: s.recordsFailed,
          unknown: s.recordsUnknown,
          commits: s.commits,
          avgCommitBatch: s.commits ? +(s.recordsDrained / s.commits).toFixed(1) : 0,
          avgCommitMs: s.commits ? +(s.appendMs / s.commits).toFixed(3) : 0,
          drainPasses: s.drainPasses,
          notifies: s.notifies,
          wakeups: s.wakeups,
          undelivered,
          requestsPerWorker: slots.map((w) => w.requests),
          ms: Math.round(performance.now() - started),
        },
        diskStuck ? 'shutdown complete, but the disk never answered: exit 1' : 'shutdown complete',
      );
      const code = diskStuck ? 1 : 0;
      finished(code);
      return code;
    })();
    return shutdownPromise;
  };

  const reload = async (): Promise<ReloadResult> => {
    const { message, result } = auth.reload();
    if (message !== undefined) {
      for (const s of slots) s.worker.postMessage(message);
      // A worker that exits meanwhile is replaced with the new table in its workerData.
      const pending = () => slots.filter((s) => s.authGeneration < message.generation && s.worker.threadId !== -1 && !s.drained);
      const deadline = Date.now() + 5000;
      while (pending().length > 0 && Date.now() < deadline && !shuttingDown) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    logger.info(result, 'reload (SIGHUP)');
    return result;
  };

  return { port, adminPort: admin?.port, owner, sink, rings: slots.map((s) => s.ring), done, shutdown, reload };
}
