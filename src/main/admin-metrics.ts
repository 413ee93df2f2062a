/**
 * The gateway's Prometheus metrics, with prom-client (served on `--admin-port` by
 * admin-server.ts, on the owner thread). Worker-side figures come from shared-memory
 * counters read at scrape time (ring counters, worker-metrics.ts); owner-side figures are
 * observed where they happen.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { LOG_PROBLEM_KINDS } from '../log/log-problems.ts';
import { readRingCounters } from '../ring/ring-counters.ts';
import type { RingStorage } from '../ring/ring-storage.ts';
import type { Sink } from '../sink/sink.ts';
import { readWorkerMetrics, type WorkerMetricsSnapshot } from '../workers/worker-metrics.ts';
import { COLLECT_INTERVAL_MS } from './admin-server.ts';

export interface WorkerView {
  id: number;
  ring: RingStorage;
  metrics: SharedArrayBuffer;
  /** Ring counters of this slot's dead workers (their rings are gone): added to the live ring's. */
  retired?: { recordsWritten: number; refusedFull: number };
  /** The worker thread's V8 heap figures (Worker.getHeapStatistics); absent in tests without threads. */
  heap?: () => Promise<WorkerHeap>;
}

/** The V8 heap figures of one worker thread that its gauges report. */
export interface WorkerHeap {
  used_heap_size: number;
  total_heap_size: number;
  external_memory: number;
}

export interface GatewayMetrics {
  registry: Registry;
  /** Owner hooks: a drain pass that read `records`, a commit of `records` taking `ms`. */
  drained(records: number): void;
  committed(records: number, failed: number, ms: number): void;
  setShutdownPending(records: number): void;
  /** A worker died and is being restarted. */
  workerRestarted(): void;
}

/** A metric whose value is computed from shared memory at scrape time. */
type Sample = { labels?: Record<string, string | number>; value: number; metricName?: string };
function sampled(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => Sample[] | Promise<Sample[]>): Metric {
  return {
    name,
    help,
    type,
    get: async () => ({ name, help, type, values: await values(), aggregator: 'sum' }),
  } as unknown as Metric;
}

export function createGatewayMetrics(workers: () => WorkerView[], sink: Sink, ringsRead: () => number = () => workers().length): GatewayMetrics {
  const registry = new Registry();
  // prom-client's own names already start with process_ / nodejs_: the prefix is the
  // project's name only (metricstream_process_cpu_seconds_total, not _process_process_).
  collectDefaultMetrics({ register: registry, prefix: 'metricstream_' });
  // prom-client names these gauges *_total, which promtool rightly rejects; the
  // nodejs_active_* gauges without the suffix carry the same numbers.
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
    registry.removeSingleMetric(`metricstream_nodejs_${name}`);
  }
  const snapshots = () =>
    workers().map((w) => ({ id: w.id, ring: w.ring, counters: readRingCounters(w.ring), retired: w.retired ?? { recordsWritten: 0, refusedFull: 0 }, metrics: readWorkerMetrics(w.metrics) }));
  /** One sample per label value, summed over every worker's counters. */
  const sumOverWorkers = (label: string, pick: (m: WorkerMetricsSnapshot) => Map<string, number>) => {
    const sums = new Map<string, number>();
    for (const w of snapshots()) for (const [value, n] of pick(w.metrics)) sums.set(value, (sums.get(value) ?? 0) + n);
    return [...sums].map(([value, n]) => ({ labels: { [label]: value }, value: n }));
  };

  registry.registerMetric(
    sampled('metricstream_http_requests_total', 'HTTP requests answered, by status code.', 'counter', () =>
      sumOverWorkers('status', (m) => m.statuses),
    ),
  );
  registry.registerMetric(
    sampled('metricstream_http_request_duration_seconds', 'Time from request arrival to answer (for --acks 1, includes durability).', 'histogram', () => {
      const all = snapshots();
      const buckets = all[0]?.metrics.latencyBuckets.map((b) => ({ le: b.le, count: 0 })) ?? [];
      let sum = 0;
      let count = 0;
      for (const w of all) {
        w.metrics.latencyBuckets.forEach((b, i) => (buckets[i].count += b.count));
        sum += w.metrics.latencySum;
        count += w.metrics.latencyCount;
      }
      return [
        ...buckets.map((b) => ({ metricName: 'metricstream_http_request_duration_seconds_bucket', labels: { le: b.le }, value: b.count })),
        { metricName: 'metricstream_http_request_duration_seconds_sum', value: sum },
        { metricName: 'metricstream_http_request_duration_seconds_count', value: count },
      ];
    }),
  );
  registry.registerMetric(
    sampled('metricstream_requests_rejected_total', 'Requests refused, by reason.', 'counter', () =>
      sumOverWorkers('reason', (m) => m.rejected),
    ),
  );
  registry.registerMetric(
    sampled('metricstream_metrics_accepted_total', 'Metrics in requests written to a ring.', 'counter', () => [
      { value: snapshots().reduce((a, w) => a + w.metrics.metricsAccepted, 0) },
    ]),
  );
  registry.registerMetric(
    sampled('metricstream_worker_heap_releases_total', 'Times an HTTP worker gave its heap back after --heap-release-after without a request (a memory-reducing GC).', 'counter', () => [
      { value: snapshots().reduce((a, w) => a + w.metrics.heapReleases, 0) },
    ]),
  );
  registry.registerMetric(
    sampled('metricstream_worker_collections_total', 'GCs HTTP workers ran to free the buffers of answered requests: scavenges every 16 MiB released, full GCs every 16 MiB of refused bodies.', 'counter', () => {
      const all = snapshots();
      return (['scavenge', 'full'] as const).map((kind) => ({ labels: { kind }, value: all.reduce((a, w) => a + w.metrics.collections[kind], 0) }));
    }),
  );
  // Per worker thread: the process-wide nodejs_heap_* gauges above are the owner thread's
  // alone, and RSS cannot tell which thread (or whether the JS heap at all) holds memory.
  // One read per worker serves the three gauges of a collection. V8 answers it by
  // interrupting the worker, even in a busy loop (test/gateway/worker-restart.test.ts); one
  // that does not answer within a second (exiting, or stuck in native code) is left out
  // rather than holding up the scrape.
  let heapRead: { at: number; heaps: Promise<{ id: number; heap: WorkerHeap | undefined }[]> } | undefined;
  const readHeaps = () => {
    if (heapRead === undefined || performance.now() - heapRead.at > COLLECT_INTERVAL_MS / 2) {
      const timeout = <T>(p: Promise<T>) =>
        Promise.race([p, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000).unref())]).catch(() => undefined);
      heapRead = { at: performance.now(), heaps: Promise.all(workers().map(async (w) => ({ id: w.id, heap: w.heap && (await timeout(w.heap())) }))) };
    }
    return heapRead.heaps;
  };
  const heaps = async (pick: (h: WorkerHeap) => number) =>
    (await readHeaps()).flatMap(({ id, heap }) => (heap === undefined ? [] : [{ labels: { worker: id }, value: pick(heap) }]));
  registry.registerMetric(
    sampled('metricstream_worker_heap_used_bytes', "Bytes of live objects and not yet collected garbage in each HTTP worker's V8 heap.", 'gauge', () => heaps((h) => h.used_heap_size)),
  );
  registry.registerMetric(
    sampled('metricstream_worker_heap_total_bytes', "Bytes V8 has reserved for each HTTP worker's heap.", 'gauge', () => heaps((h) => h.total_heap_size)),
  );
  registry.registerMetric(
    sampled('metricstream_worker_external_memory_bytes', "Bytes outside each HTTP worker's heap held by its JS objects (buffers, native handles), as V8 accounts them.", 'gauge', () => heaps((h) => h.external_memory)),
  );
  registry.registerMetric(
    sampled('metricstream_ring_occupied_bytes', 'Bytes published in a worker ring and not yet drained.', 'gauge', () =>
      snapshots().map((w) => ({ labels: { worker: w.id }, value: w.counters.occupiedBytes })),
    ),
  );
  registry.registerMetric(
    sampled('metricstream_ring_capacity_bytes', 'Size of each worker ring.', 'gauge', () => snapshots().map((w) => ({ labels: { worker: w.id }, value: w.ring.capacity }))),
  );
  registry.registerMetric(
    sampled('metricstream_ring_records_total', 'Records written into each worker ring.', 'counter', () =>
      snapshots().map((w) => ({ labels: { worker: w.id }, value: w.retired.recordsWritten + w.counters.recordsWritten })),
    ),
  );
  registry.registerMetric(
    sampled('metricstream_ring_full_total', 'Writes refused because a worker ring was full (answered 503).', 'counter', () =>
      snapshots().map((w) => ({ labels: { worker: w.id }, value: w.retired.refusedFull + w.counters.refusedFull })),
    ),
  );
  const sinkLabel = { sink: sink.name };
  new Gauge({
    name: 'metricstream_sink_ready',
    help: '1 when the sink accepts writes.',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.set(sinkLabel, sink.isReady() ? 1 : 0);
    },
  });
  // The local logs' own reports: problems off the acknowledgement path (LogSink, and Kafka
  // mode's FallbackSink for its spill and dead-letter logs) and acknowledged records
  // recovery found lost; read by duck typing, absent in Kafka mode without the fallback.
  const logSink = sink as { problems?: Map<string, number>; lostRecords?: number[] };
  if (logSink.problems !== undefined) {
    registry.registerMetric(
      sampled('metricstream_log_errors_total', 'Local log failures (the log; in Kafka mode the spill and dead-letter logs), by kind: write (segment write/fdatasync, answered 503), commit-marks, index, retention, stall (a commit waited past --disk-stall-timeout).', 'counter', () =>
        LOG_PROBLEM_KINDS.map((kind) => ({ labels: { kind }, value: logSink.problems!.get(kind) ?? 0 })),
      ),
    );
    registry.registerMetric(
      sampled('metricstream_log_records_lost_total', 'Acknowledged records recovery found missing or damaged and the operator accepted (lost-offsets.json), by partition.', 'counter', () =>
        (logSink.lostRecords ?? []).map((value, partition) => ({ labels: { partition }, value })),
      ),
    );
  }
  const drainBatch = new Histogram({
    name: 'metricstream_owner_drain_batch_records',
    help: 'Records the owner read in one drain pass over all rings (passes that found any).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384],
    registers: [registry],
  });
  const commitBatch = new Histogram({
    name: 'metricstream_commit_batch_records',
    help: 'Records in one group commit (one sink append).',
    labelNames: ['sink'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384],
    registers: [registry],
  });
  const commitSeconds = new Histogram({
    name: 'metricstream_commit_duration_seconds',
    help: 'Duration of one sink append: write + fdatasync for the log, send until acknowledged for Kafka.',
    labelNames: ['sink'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const durable = new Counter({ name: 'metricstream_records_durable_total', help: 'Records the sink made durable (or sent, for Kafka acks 0).', labelNames: ['sink'], registers: [registry] });
  const failed = new Counter({ name: 'metricstream_records_failed_total', help: 'Records the sink could not make durable (answered 503 not stored, 504 outcome unknown, or 413 refused).', labelNames: ['sink'], registers: [registry] });
  const sinkErrors = new Counter({ name: 'metricstream_sink_errors_total', help: 'Sink appends that failed for at least one record.', labelNames: ['sink'], registers: [registry] });
  new Gauge({
    name: 'metricstream_spill_pending_records',
    help: 'Kafka --fallback file: records in the local spill not yet replayed to Kafka.',
    registers: [registry],
    collect() {
      const pendingReplay = (sink as { pendingReplay?: unknown }).pendingReplay;
      this.set(typeof pendingReplay === 'number' ? pendingReplay : 0);
    },
  });
  new Gauge({
    name: 'metricstream_kafka_dead_letter_records',
    help: 'Kafka --fallback file: spilled records (answered 202) Kafka refused on replay, kept in <data-dir>/kafka-dead-letter/ for an operator.',
    registers: [registry],
    collect() {
      const dead = (sink as { deadLetterRecords?: unknown }).deadLetterRecords;
      this.set(typeof dead === 'number' ? dead : 0);
    },
  });
  const restarts = new Counter({ name: 'metricstream_worker_restarts_total', help: 'HTTP worker threads that died and were restarted.', registers: [registry] });
  new Gauge({
    name: 'metricstream_owner_rings',
    help: 'Rings the owner reads: one per live worker, plus a dead worker\'s until it is drained and released.',
    registers: [registry],
    collect() {
      this.set(ringsRead());
    },
  });
  const pending = new Gauge({ name: 'metricstream_shutdown_pending_records', help: 'Records still awaiting the sink when shutdown began draining.', registers: [registry] });
  return {
    registry,
    drained(records) {
      if (records > 0) drainBatch.observe(records);
    },
    committed(records, failedRecords, ms) {
      commitBatch.observe(sinkLabel, records);
      commitSeconds.observe(sinkLabel, ms / 1000);
      durable.inc(sinkLabel, records - failedRecords);
      if (failedRecords > 0) {
        failed.inc(sinkLabel, failedRecords);
        sinkErrors.inc(sinkLabel);
      }
    },
    setShutdownPending(records) {
      pending.set(records);
    },
    workerRestarted() {
      restarts.inc();
    },
  };
}
