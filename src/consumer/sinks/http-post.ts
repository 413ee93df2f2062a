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

/** Bytes of an answer read before the rest is dropped with its connection. */
export const MAX_ANSWER_BYTES = 64 << 10;

/**
 * The start of an answer's body (up to MAX_ANSWER_BYTES; '' for a 2xx, whose body says
 * nothing we use). Reading all of it would let a store, or a proxy before it, make the
 * consumer hold whatever it sends: a 1 GiB error page was 1 GiB of this process. Past the
 * limit the body is cancelled, which closes its connection; an answer read whole keeps
 * its connection for the next POST.
 */
async function readAnswer(res: Response): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.ok) chunks.push(value);
    bytes += value.byteLength;
    if (bytes > MAX_ANSWER_BYTES) {
      await reader.cancel();
      break;
    }
  }
  return res.ok ? '' : Buffer.concat(chunks).toString('utf8', 0, Math.min(bytes, MAX_ANSWER_BYTES));
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
    const text = (await readAnswer(res)).slice(0, 500);
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
