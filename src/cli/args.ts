/**
 * Command-line values, parsed one way for every entry point (gateway, consumer, load tool,
 * profiler, benchmarks): a bad value throws UsageError with a message naming the flag, and
 * each CLI turns that into exit code 2. Flag names are given without their dashes.
 */

/** An invalid command line; the message is meant for the user. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An integer in [min, max]. */
export function parseInteger(flag: string, text: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || n < min || n > max) {
    throw new UsageError(`--${flag}: "${text}" must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** A positive number of seconds, fractions allowed ("0.5", "15"). */
export function parseSeconds(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${flag}: "${text}" must be a positive number of seconds`);
  }
  return n;
}

/** A size in bytes: a number with an optional b, kb, mb, gb suffix (powers of 1024). */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|k|kib|mb|m|mib|gb|g|gib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--${flag}: "${text}" is not a size (e.g. 512kb, 1mb)`);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Math.floor(Number(m[1]) * factor);
}

/** A duration in ms: a number with an optional ms, s or m suffix; a bare number is seconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--${flag}: "${text}" is not a duration (e.g. 500ms, 10s)`);
  const unit = (m[2] ?? 's').toLowerCase();
  return Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000));
}

/** One of `allowed`. */
export function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`--${flag}: "${text}" must be one of ${allowed.join(', ')}`);
  }
  return text as T;
}
