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

// ---------------------------------------------------------------------------------------
// The same as byte ranges: seriesFromBytes' `ranges` (record-encoder.ts), where tag i has
// its key at ranges[2 + 4i, 3 + 4i] and its value at ranges[4 + 4i, 5 + 4i] (start, end),
// all in one buffer `s` of valid UTF-8, where equal bytes are equal strings.

/** The index of the tag keyed s[keyStart, keyEnd) among the first `count`, or `count` if none. */
export function tagRangeIndex(s: Uint8Array, ranges: Int32Array, count: number, keyStart: number, keyEnd: number): number {
  let j = 0;
  for (; j < count; j++) if (sameBytes(s, ranges[2 + 4 * j]!, ranges[3 + 4 * j]!, keyStart, keyEnd)) break;
  return j;
}

/**
 * dedupeLastWins on the byte ranges of `count` tags: the last value of a key wins at the
 * place of its first occurrence. Returns the new count. Linear for long lists, as above.
 */
export function dedupeTagRanges(s: Buffer, ranges: Int32Array, count: number): number {
  let out = 0;
  if (count <= SMALL) {
    for (let t = 0; t < count; t++) {
      const at = 2 + 4 * t;
      const j = tagRangeIndex(s, ranges, out, ranges[at]!, ranges[at + 1]!);
      moveTag(ranges, at, j, j === out);
      if (j === out) out++;
    }
    return out;
  }
  const seen = new Map<string, number>();
  for (let t = 0; t < count; t++) {
    const at = 2 + 4 * t;
    const key = s.toString('latin1', ranges[at]!, ranges[at + 1]!); // one char per byte: injective
    const j = seen.get(key);
    if (j !== undefined) moveTag(ranges, at, j, false);
    else {
      seen.set(key, out);
      moveTag(ranges, at, out++, true);
    }
  }
  return out;
}

/** Puts the tag at ranges[at] in place `j`: its value, and its key too when `withKey`. */
function moveTag(ranges: Int32Array, at: number, j: number, withKey: boolean): void {
  const to = 2 + 4 * j;
  if (withKey) {
    ranges[to] = ranges[at]!;
    ranges[to + 1] = ranges[at + 1]!;
  }
  ranges[to + 2] = ranges[at + 2]!;
  ranges[to + 3] = ranges[at + 3]!;
}

/** Whether s[aStart, aEnd) and s[bStart, bEnd) hold the same bytes. */
export function sameBytes(s: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let k = 0; k < aEnd - aStart; k++) if (s[aStart + k] !== s[bStart + k]) return false;
  return true;
}
