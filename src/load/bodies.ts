/**
 * Builds the one request body a load run sends over and over. The body is built once
 * before the run, so the timestamps in it are the run's start time: a gateway that
 * rejected old timestamps would start rejecting during very long runs.
 */
import { pack } from 'msgpackr';

/** Wire encodings the gateway accepts for POST /metrics. */
export type BodyFormat = 'json' | 'msgpack';

/** Content-Type header value for each body format. */
export const CONTENT_TYPES: Record<BodyFormat, string> = {
  json: 'application/json',
  msgpack: 'application/msgpack',
};

/** One metric of the POST /metrics body. */
export interface Metric {
  name: string;
  value: number;
  timestamp: number;
  tags: Record<string, string>;
}

/**
 * Returns the encoded `{"metrics":[...]}` body holding `count` metrics, all stamped
 * with `now` (ms since the epoch). Metric names and values vary with the index so a
 * body with K metrics is not K copies of one point.
 */
export function buildBody(format: BodyFormat, count: number, now: number = Date.now()): Buffer {
  const metrics: Metric[] = [];
  for (let i = 0; i < count; i++) {
    metrics.push({
      name: i === 0 ? 'cpu' : `cpu_${i}`,
      value: 50 + (i % 50),
      timestamp: now,
      tags: { host: 'a' },
    });
  }
  const payload = { metrics };
  return format === 'json' ? Buffer.from(JSON.stringify(payload)) : pack(payload);
}
