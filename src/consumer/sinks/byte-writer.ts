/**
 * A growable byte buffer reused from request to request: the encoders write a request's
 * bytes into it and the caller copies them out (snappy's output, or one Buffer copy), so a
 * request costs no per-field allocations and no per-request buffer sizing pass.
 */

import { growBuffer } from '../../records/grow-buffer.ts';

/** See the module comment. Not for concurrent use: encode, copy out, then reuse. */
export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initial = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** Starts a new request. */
  reset(): void {
    this.pos = 0;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.buf = growBuffer(this.buf, this.pos, this.pos + n);
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A non-negative integer below 2^53 as a protobuf varint (callers ensure ≤ 10 bytes of room). */
  varint(n: number): void {
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  /** An ASCII string (numbers, digits): one byte per character. */
  ascii(s: string): void {
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  /** The bytes written so far (a view: copy before the next reset). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Bytes of n as a protobuf varint (n < 0: an int64 in two's complement, 10 bytes). */
export function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}
