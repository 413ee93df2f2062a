/**
 * The consumer's own Prometheus metrics (prom-client, one registry per consumer), served
 * by the CLI on --admin-port: what was delivered, what the store answered, what went to
 * the dead letter, and the group's lag per partition (read at scrape time).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PartitionLag } from '../types.ts';

export class SinkMetrics {
  readonly registry = new Registry();
  readonly recordsDelivered: Counter<'partition'>;
  readonly samplesDelivered: Counter;
  readonly samplesSkipped: Counter<'reason'>;
  readonly requests: Counter<'outcome'>;
  readonly sinkErrors: Counter<'kind'>;
  readonly deadLettered: Counter<'partition'>;
  readonly requestDuration: Histogram;
  readonly retrying: Gauge;
  readonly abandoned: Counter<'partition'>;
  #lag: (() => Promise<PartitionLag[]>) | null = null;

  constructor(sink: string, opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ sink });
    this.recordsDelivered = new Counter({
      name: 'metricstream_consumer_records_delivered_total',
      help: 'Records whose samples the store accepted (2xx), committed after.',
      labelNames: ['partition'],
      registers,
    });
    this.samplesDelivered = new Counter({ name: 'metricstream_consumer_samples_delivered_total', help: 'Samples the store accepted (2xx).', registers });
    this.samplesSkipped = new Counter({
      name: 'metricstream_consumer_samples_skipped_total',
      help: 'Record entries not sent, by reason (native_histogram: not in remote_write 1.0; invalid_entry; unrepresentable in the protocol).',
      labelNames: ['reason'],
      registers,
    });
    this.requests = new Counter({
      name: 'metricstream_consumer_sink_requests_total',
      help: 'Requests to the store by outcome (ok, retry, refused).',
      labelNames: ['outcome'],
      registers,
    });
    this.sinkErrors = new Counter({
      name: 'metricstream_consumer_sink_errors_total',
      help: 'Failed requests to the store by kind: 5xx, 429, 408 (retried), connection, timeout (retried), 4xx (dead letter).',
      labelNames: ['kind'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'metricstream_consumer_dead_letter_records_total',
      help: 'Records written to the dead letter (refused by the store for good, or not the record format).',
      labelNames: ['partition'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'metricstream_consumer_sink_request_duration_seconds',
      help: 'Duration of one request to the store (any outcome).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.retrying = new Gauge({ name: 'metricstream_consumer_sink_retrying', help: '1 while a request is being retried (consuming is paused).', registers });
    this.abandoned = new Counter({
      name: 'metricstream_consumer_batches_abandoned_total',
      help: 'Batches given up without committing because the consumer stopped or lost the partition (read again by its owner).',
      labelNames: ['partition'],
      registers,
    });
    const metrics = this;
    new Gauge({
      name: 'metricstream_consumer_lag_records',
      help: "The group's lag per partition: end offset minus committed offset (at scrape time).",
      labelNames: ['partition'],
      registers,
      async collect() {
        this.reset();
        if (metrics.#lag === null) return;
        try {
          for (const l of await metrics.#lag()) this.set({ partition: String(l.partition) }, l.lag);
        } catch {
          // the log or the broker cannot be read right now: no lag figures in this scrape
        }
      },
    });
    if (opts.processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: 'metricstream_consumer_' });
      // prom-client names these gauges *_total, which promtool rejects (as the gateway does:
      // the nodejs_active_* gauges without the suffix carry the same numbers).
      for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
        this.registry.removeSingleMetric(`metricstream_consumer_nodejs_${name}`);
      }
    }
  }

  /** Where the lag gauge reads the group's lag (the consumer's lag()). */
  setLagSource(lag: () => Promise<PartitionLag[]>): void {
    this.#lag = lag;
  }
}
