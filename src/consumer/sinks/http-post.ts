/**
 * One POST to a store, classified the way remote_write defines it and InfluxDB follows:
 * 2xx delivered; 429, 408 and 5xx (and a connection error or timeout) worth retrying;
 * any other status refused for good (the data will never be taken: dead letter).
 */

/** What one attempt came to. */
export type PostOutcome =
  | { kind: 'ok'; status: number }
  | { kind: 'retry'; reason: 'status' | 'connection' | 'timeout'; status?: number; message: string; retryAfterMs?: number }
  | { kind: 'refused'; status: number; message: string };

/** Retry-After as delay-seconds or an HTTP date, in ms (undefined when absent or unreadable). */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/**
 * POSTs `body`; never throws except when `signal` aborts (then the AbortError). The body of
 * an answer that is not 2xx is kept (first 500 characters) for logs and dead letters.
 */
export async function post(
  url: URL,
  body: Buffer,
  headers: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<PostOutcome> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = res.ok ? (await res.arrayBuffer(), '') : (await res.text()).slice(0, 500);
    if (res.ok) return { kind: 'ok', status: res.status };
    const message = `HTTP ${res.status}${text ? `: ${text.trim()}` : ''}`;
    if (res.status === 429 || res.status === 408 || res.status >= 500) {
      return { kind: 'retry', reason: 'status', status: res.status, message, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
    }
    return { kind: 'refused', status: res.status, message };
  } catch (err) {
    if (signal?.aborted) throw signal.reason ?? err;
    if (timeout.aborted) return { kind: 'retry', reason: 'timeout', message: `no answer within ${timeoutMs} ms` };
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { kind: 'retry', reason: 'connection', message: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}
