/**
 * Tag lists as the decoders build them: flat [key, value, key, value, ...] arrays, or the
 * same as byte ranges of one buffer for the decoders that read in place.
 */

/** Above this many pairs, duplicate checks use a Map instead of comparing every pair. */
const SMALL = 16;

/**
 * Removes duplicate keys in place, the last value of a key winning at the place of its
 * first occurrence. Linear for long lists (a hostile body with 100k attributes must not
 * cost 100k² comparisons); pairwise for the usual few tags, where that is cheaper.
 */
export function dedupeLastWins(tags: string[]): string[] {
  const n = tags.length >> 1;
  if (n <= SMALL) {
    let out = 0;
    for (let i = 0; i < n; i++) {
      const key = tags[2 * i]!;
      let j = 0;
      for (; j < out; j++) if (tags[2 * j] === key) break;
      tags[2 * j + 1] = tags[2 * i + 1]!;
      if (j === out) {
        tags[2 * out] = key;
        out++;
      }
    }
    tags.length = 2 * out;
    return tags;
  }
  const at = new Map<string, number>();
  let out = 0;
  for (let i = 0; i < n; i++) {
    const key = tags[2 * i]!;
    const value = tags[2 * i + 1]!;
    const j = at.get(key);
    if (j !== undefined) tags[2 * j + 1] = value;
    else {
      at.set(key, out);
      tags[2 * out] = key;
      tags[2 * out + 1] = value;
      out++;
    }
  }
  tags.length = 2 * out;
  return tags;
}

/** The first key that occurs twice in `keys[0, n)`, or undefined. Linear for long lists. */
export function firstDuplicate(keys: readonly string[], n: number): string | undefined {
  if (n <= SMALL) {
    for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) if (keys[i] === keys[j]) return keys[i];
    return undefined;
  }
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    if (seen.has(keys[i]!)) return keys[i];
    seen.add(keys[i]!);
  }
  return undefined;
}

/**
 * Whether s[aStart, aEnd) and s[bStart, bEnd) hold the same bytes: for keys read in place
 * (valid UTF-8, where equal bytes are equal strings).
 */
export function sameBytes(s: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let k = 0; k < aEnd - aStart; k++) if (s[aStart + k] !== s[bStart + k]) return false;
  return true;
}
