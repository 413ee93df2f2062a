/**
 * A protobuf wire-format reader over one byte range, for the hand-written decoders of
 * remote_write and OTLP. It builds no objects: callers loop over tags and read each
 * field straight into the record encoding. Every malformed input (truncated varint,
 * length past the end, unknown wire type) throws WireError, which the protocol modules
 * turn into a 400; nothing else escapes.
 */

export class WireError extends Error {}

const TWO_32 = 4294967296;

/** Wire types of the protobuf encoding. */
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

export class ProtoReader {
  readonly buf: Uint8Array;
  /** The same bytes as a Buffer, for its native latin1 slicing of ASCII strings. */
  readonly nodeBuf: Buffer;
  readonly view: DataView;
  pos: number;
  end: number;
  /** High 32 bits of the last varint64/fixed64 read (for callers that need them). */
  hi = 0;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.nodeBuf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
    this.end = end;
  }

  /** Reads a varint of at most 32 significant bits (tags, lengths, uint32, enums). */
  uint32(): number {
    // One-byte varints (almost every tag and short length) in a body small enough for
    // TurboFan to inline into the decoders' loops; the general loop stays out of line.
    const p = this.pos;
    if (p < this.end) {
      const byte = this.buf[p]!;
      if (byte < 0x80) {
        this.pos = p + 1;
        return byte;
      }
    }
    return this.uint32Long();
  }

  private uint32Long(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (p >= end) throw new WireError('truncated varint');
      const byte = b[p++]!;
      if (shift < 28) result |= (byte & 0x7f) << shift;
      else if (shift === 28) result |= (byte & 0x0f) << 28; // higher bits of a 64-bit varint are dropped
      if (byte < 0x80) break;
      shift += 7;
      if (shift > 63) throw new WireError('varint longer than 10 bytes');
    }
    this.pos = p;
    return result >>> 0;
  }

  /** A varint as a 64-bit value split into lo (returned, unsigned) and this.hi (unsigned). */
  private varint64(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (p >= end) throw new WireError('truncated varint');
      const byte = b[p++]!;
      const bits = byte & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else if (shift < 64) hi |= bits << (shift - 32);
      if (byte < 0x80) break;
      shift += 7;
      if (shift > 63) throw new WireError('varint longer than 10 bytes');
    }
    this.pos = p;
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  /** int64 (two's complement varint) as a number; exact within ±2^53. */
  int64(): number {
    const lo = this.varint64();
    return toSigned(lo, this.hi);
  }

  /** uint64 varint as a number; exact below 2^53. */
  uint64(): number {
    const lo = this.varint64();
    return this.hi * TWO_32 + lo;
  }

  /** sint32/sint64 (zigzag) as a number. */
  sint64(): number {
    const lo = this.varint64();
    const hi = this.hi;
    // zigzag: (n >>> 1) ^ -(n & 1), on 64 bits
    const neg = lo & 1;
    const ulo = ((lo >>> 1) | (hi << 31)) >>> 0;
    const uhi = hi >>> 1;
    if (!neg) return uhi * TWO_32 + ulo;
    return -(uhi * TWO_32 + ulo) - 1;
  }

  bool(): boolean {
    return this.uint64() !== 0;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new WireError('truncated double');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** fixed64 as lo (returned) and this.hi. */
  fixed64Parts(): number {
    if (this.pos + 8 > this.end) throw new WireError('truncated fixed64');
    const lo = this.view.getUint32(this.pos, true);
    this.hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return lo;
  }

  /** fixed64 as a number; exact below 2^53. */
  fixed64(): number {
    const lo = this.fixed64Parts();
    return this.hi * TWO_32 + lo;
  }

  /** sfixed64 as a number; exact within ±2^53. */
  sfixed64(): number {
    const lo = this.fixed64Parts();
    return toSigned(lo, this.hi);
  }

  /**
   * A fixed64 count of nanoseconds as milliseconds: the integer part is exact, the
   * fraction keeps sub-ms precision (a float64 of ~1.7e12 ms resolves ~0.25 µs).
   */
  nanosAsMillis(): number {
    const lo = this.fixed64Parts();
    return nanosToMillis(lo, this.hi);
  }

  /** Reads a length prefix and returns the end of the field's bytes, checked. */
  lengthEnd(): number {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > this.end) throw new WireError(`field length ${len} runs past the end of its message`);
    return end;
  }

  /** A length-delimited UTF-8 string (short ASCII ones through the intern cache). */
  string(): string {
    const end = this.lengthEnd();
    const s = this.stringAt(this.pos, end);
    this.pos = end;
    return s;
  }

  /** The UTF-8 string of buf[start, end) (a field whose length was read), as string() reads it. */
  stringAt(start: number, end: number): string {
    return end - start <= INTERN_MAX ? internedSlice(this.nodeBuf, start, end) : utf8Slice(this.nodeBuf, start, end);
  }

  /** Skips a field of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint64();
        return;
      case I64:
        if (this.pos + 8 > this.end) throw new WireError('truncated fixed64');
        this.pos += 8;
        return;
      case LEN:
        this.pos = this.lengthEnd();
        return;
      case I32:
        if (this.pos + 4 > this.end) throw new WireError('truncated fixed32');
        this.pos += 4;
        return;
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
  }
}

function toSigned(lo: number, hi: number): number {
  if (hi & 0x80000000) {
    // two's complement negation on 64 bits
    const nlo = (~lo + 1) >>> 0;
    const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
    return -(nhi * TWO_32 + nlo);
  }
  return hi * TWO_32 + lo;
}

/** Unsigned 64-bit nanoseconds (lo, hi) to milliseconds, the integer part exact. */
export function nanosToMillis(lo: number, hi: number): number {
  // hi * 2^32 = hi * 4294 * 1e6 + hi * 967296; both partial sums stay below 2^53.
  const low = hi * 967296 + lo;
  const whole = hi * 4294 + Math.floor(low / 1e6);
  const rem = low % 1e6;
  return rem === 0 ? whole : whole + rem / 1e6;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 bytes; invalid UTF-8 is a WireError (labels must be valid UTF-8). */
export function utf8Slice(buf: Buffer, start: number, end: number): string {
  // ASCII fast path (most label names and values): a native latin1 slice, no validation needed.
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  // utf8Slice: Node's native slice (untyped; the fastest on short strings, measured).
  if (ascii) return (buf as unknown as { utf8Slice(s: number, e: number): string }).utf8Slice(start, end);
  try {
    return decoder.decode(buf.subarray(start, end));
  } catch {
    throw new WireError('string is not valid UTF-8');
  }
}

// ---------------------------------------------------------------------------------------
// Interning of short strings. OTLP repeats the same attribute keys and values (and scope,
// unit, type names) on every data point; making a JS string of each costs a native call
// and an allocation (a quarter of OTLP decoding in the profile). A direct-mapped cache of
// the last short ASCII string per hash slot returns the same string for the same bytes
// after one hashing pass, which also serves as the ASCII check.

/** Longest string the cache holds (bytes). */
const INTERN_MAX = 32;
const INTERN_SLOTS = 1024; // power of two
const internBytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX);
const internLength = new Int32Array(INTERN_SLOTS).fill(-1);
const internStrings: string[] = new Array<string>(INTERN_SLOTS).fill('');

/** utf8Slice for strings of at most INTERN_MAX bytes, the same string for the same ASCII bytes. */
export function internedSlice(buf: Buffer, start: number, end: number): string {
  let h = 0x811c9dc5;
  let high = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    high |= c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (high >= 0x80) return utf8Slice(buf, start, end); // not ASCII: validated, not cached
  const n = end - start;
  const slot = (h ^ (h >>> 15)) & (INTERN_SLOTS - 1);
  const at = slot * INTERN_MAX;
  if (internLength[slot] === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (internBytes[at + i] !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return internStrings[slot]!;
  }
  const s = (buf as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);
  for (let i = 0; i < n; i++) internBytes[at + i] = buf[start + i]!;
  internLength[slot] = n;
  internStrings[slot] = s;
  return s;
}
