/**
 * Per-tenant series on the admin /metrics, read from the workers' shared counters at
 * scrape time. Tenants come from the auth file's slots only (bounded by the slot count
 * fixed at start); client-id mode registers nothing per tenant, so a client can never
 * grow the label set.
 */
import type { Metric, Registry } from 'prom-client';
import { readTenantMetrics } from './tenant-metrics.ts';

function sampled(name: string, help: string, values: () => { labels: Record<string, string>; value: number }[]): Metric {
  return { name, help, type: 'counter', get: async () => ({ name, help, type: 'counter', values: values(), aggregator: 'sum' }) } as unknown as Metric;
}

/** Registers the per-tenant counters; `tenants()` lists tenant ids by slot. */
export function registerTenantMetrics(registry: Registry, tenants: () => readonly string[], storages: () => SharedArrayBuffer[]): void {
  const snapshots = () => {
    const all = storages();
    return tenants().map((tenant, slot) => ({ tenant, m: readTenantMetrics(all, slot) }));
  };
  registry.registerMetric(
    sampled('metricstream_tenant_requests_total', 'Authenticated requests answered, by tenant and outcome (accepted, throttled = 429, bad_request, too_large, unavailable = 5xx, other).', () =>
      snapshots().flatMap(({ tenant, m }) => [...m.requests].map(([outcome, value]) => ({ labels: { tenant, outcome }, value }))),
    ),
  );
  registry.registerMetric(
    sampled('metricstream_tenant_samples_total', 'Samples in authenticated requests, by tenant and outcome (accepted or throttled).', () =>
      snapshots().flatMap(({ tenant, m }) => [
        { labels: { tenant, outcome: 'accepted' }, value: m.samplesAccepted },
        { labels: { tenant, outcome: 'throttled' }, value: m.samplesThrottled },
      ]),
    ),
  );
  registry.registerMetric(
    sampled('metricstream_tenant_received_bytes_total', 'Request body bytes (as received) of accepted requests, by tenant.', () =>
      snapshots().map(({ tenant, m }) => ({ labels: { tenant }, value: m.bytesAccepted })),
    ),
  );
}
