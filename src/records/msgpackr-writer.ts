/**
 * Writes MessagePack byte for byte as msgpackr's `new Packr({ useRecords: false })` packs
 * the same values (msgpackr 2.x, pack.js): maps always as map16 with the size patched in
 * afterwards, arrays and strings with the smallest header, numbers as msgpackr picks them
 * (uint32/int32 ranges as ints, everything else float64; -0 as the int 0).
 *
 * Why byte-identical and not merely equivalent: the seed JSON endpoint used to store
 * `packr.pack(JSON.parse(body))`; the one-pass transcoder (src/protocols/seed-json-scan.ts)
 * writes through this instead, and its conformance test checks that every record it
 * stores is the very bytes the old path stored, so nothing downstream can tell.
 *
 * One writer per thread, reused: its scratch buffer grows to the largest record seen and
 * `finishMetrics()` returns a view of it, valid until the writer's next value. A request
 * then allocates nothing for its record: the gateway's worker copies the view into its
 * ring before it decodes another body. (A copy per record, as before, was one external
 * ArrayBuffer per request at 100 metrics per request: records of 7 KB are past the 4 KB
 * that Buffer's pool serves.)
 */
import { growBuffer } from './grow-buffer.ts';

/** Largest scratch buffer kept between records (trim). */
const KEEP_BYTES = 1024 * 1024;
/** Room left in front of the first value for the top-level header written last (see reserve). */
const HEAD_ROOM = 16;

export class MsgpackrWriter {
  buf: Buffer;
  view: DataView;
  pos = 0;
  /** Where the bytes of the last str written start (its header is in front of them). */
  strDataAt = 0;
  /** Where the value after the reserved head room starts (set by reserve). */
  private bodyStart = 0;

  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /**
   * Gives back a buffer grown past `KEEP_BYTES` by one large record, so that a worker
   * does not hold the largest record it ever saw for the rest of its life. finishMetrics
   * calls it; call it after abandoning a value too. A view finishMetrics returned stays
   * valid: the large buffer is only let go, never written again.
   */
  trim(): void {
    if (this.buf.length <= KEEP_BYTES) return;
    this.buf = Buffer.allocUnsafe(KEEP_BYTES);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Starts a new value, leaving head room for a header whose size is known only at the end. */
  reserve(): void {
    this.pos = HEAD_ROOM;
    this.bodyStart = HEAD_ROOM;
  }

  /**
   * Makes room for `n` more bytes. No limit of its own: what it writes is bounded by the
   * body (at most a few times its size), and the worker refuses an oversized record (413)
   * exactly as it did for msgpackr's output.
   */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = growBuffer(this.buf, this.pos, this.pos + n);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** Writes bytes that are already msgpack (a constant key, say). */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let k = 0; k < n; k++) buf[p++] = bytes[k]!;
    this.pos = p;
  }

  /** A map16 header with a placeholder size; returns where to patch it (mapSize). */
  map16(): number {
    this.ensure(3);
    const at = this.pos;
    this.buf[at] = 0xde;
    this.pos = at + 3;
    return at;
  }

  /** Patches the size of the map16 started at `at`. */
  mapSize(at: number, size: number): void {
    this.buf[at + 1] = size >> 8;
    this.buf[at + 2] = size & 0xff;
  }

  /** A number exactly as msgpackr's pack(number) writes it (useRecords: false, no float32). */
  number(value: number): void {
    this.ensure(9);
    const buf = this.buf;
    let p = this.pos;
    if (value >>> 0 === value) {
      if (value < 0x80) buf[p++] = value;
      else if (value < 0x100) {
        buf[p++] = 0xcc;
        buf[p++] = value;
      } else if (value < 0x10000) {
        buf[p++] = 0xcd;
        buf[p++] = value >> 8;
        buf[p++] = value & 0xff;
      } else {
        buf[p++] = 0xce;
        this.view.setUint32(p, value);
        p += 4;
      }
    } else if (value >> 0 === value) {
      if (value >= -0x20) buf[p++] = 0x100 + value;
      else if (value >= -0x80) {
        buf[p++] = 0xd0;
        buf[p++] = value + 0x100;
      } else if (value >= -0x8000) {
        buf[p++] = 0xd1;
        this.view.setInt16(p, value);
        p += 2;
      } else {
        buf[p++] = 0xd2;
        this.view.setInt32(p, value);
        p += 4;
      }
    } else {
      buf[p++] = 0xcb;
      this.view.setFloat64(p, value);
      p += 8;
    }
    this.pos = p;
  }

  /** A str from UTF-8 bytes src[start, end) that need no decoding. */
  strBytes(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n + 5);
    const buf = this.buf;
    let p = this.pos;
    p = writeStrHeader(buf, p, n);
    this.strDataAt = p;
    if (n < 64) for (let k = start; k < end; k++) buf[p++] = src[k]!;
    else {
      buf.set(src.subarray(start, end), p);
      p += n;
    }
    this.pos = p;
  }

  /**
   * Starts a str of at most `maxBytes` bytes written by the caller at the returned offset;
   * endStr(offset, end) then writes the header for the actual length. The header is
   * sized for `maxBytes` and moved when the actual length needs a smaller one, as msgpackr
   * does.
   */
  beginStr(maxBytes: number): number {
    this.ensure(maxBytes + 5);
    return this.pos + strHeaderSize(maxBytes);
  }

  /** Finishes a str begun at `dataAt` whose bytes end at `end`. */
  endStr(dataAt: number, end: number): void {
    const n = end - dataAt;
    const start = this.pos;
    const want = strHeaderSize(n);
    const reserved = dataAt - start;
    if (want !== reserved) this.buf.copyWithin(start + want, dataAt, end);
    writeStrHeader(this.buf, start, n);
    this.strDataAt = start + want;
    this.pos = start + want + n;
  }

  /**
   * Ends the value begun by reserve(): writes `{"metrics": <array header of count>}` in
   * front of the entries (msgpackr writes the one-key top map as map16 too) and returns
   * the whole value as a view of the writer's buffer. The view is stale from the next
   * reserve(): copy it first if it must outlive that.
   */
  finishMetrics(count: number): Buffer {
    const buf = this.buf;
    const head = count < 0x10 ? 1 : count < 0x10000 ? 3 : 5;
    let p = this.bodyStart - head;
    if (head === 1) buf[p] = 0x90 | count;
    else if (head === 3) {
      buf[p] = 0xdc;
      buf[p + 1] = count >> 8;
      buf[p + 2] = count & 0xff;
    } else {
      buf[p] = 0xdd;
      this.view.setUint32(p + 1, count);
    }
    p -= METRICS_KEY.length;
    buf.set(METRICS_KEY, p);
    p -= 3;
    buf[p] = 0xde;
    buf[p + 1] = 0;
    buf[p + 2] = 1;
    const value = buf.subarray(p, this.pos);
    this.trim();
    return value;
  }
}

/** fixstr "metrics". */
const METRICS_KEY = Uint8Array.from([0xa7, ...Buffer.from('metrics')]);

/** Bytes of the smallest str header for `n` bytes, the way msgpackr chooses it. */
export function strHeaderSize(n: number): number {
  return n < 0x20 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Writes the smallest msgpack str header for `n` bytes at buf[p]; returns the next position. */
export function writeStrHeader(buf: Buffer, p: number, n: number): number {
  if (n < 0x20) buf[p++] = 0xa0 | n;
  else if (n < 0x100) {
    buf[p++] = 0xd9;
    buf[p++] = n;
  } else if (n < 0x10000) {
    buf[p++] = 0xda;
    buf[p++] = n >> 8;
    buf[p++] = n & 0xff;
  } else {
    buf[p++] = 0xdb;
    buf.writeUInt32BE(n, p);
    p += 4;
  }
  return p;
}
