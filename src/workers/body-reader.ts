/**
 * Reads one request body within its limits:
 *
 * - `maxBody` bytes on the wire (413), whatever Content-Length said (chunked bodies too);
 * - `maxDecoded` bytes after Content-Encoding (413, see content-encoding.ts: decoded once
 *   the body is in, the decoder stopping at the cap);
 * - the worker's in-flight byte budget (503 + Retry-After at once when exhausted): every
 *   byte held for a body, received or decoded, is reserved from one InflightBudget per
 *   worker, and released by the caller when the request is answered;
 * - the body timeout, enforced by the worker's sweep calling abort(): 408 while the body is
 *   still arriving, 503 once it is in and waits for libuv's pool to decode it (the pool is
 *   busy, e.g. with fdatasyncs a stalled disk does not finish: not the client's fault).
 *
 * A body that arrives in one piece (most: one socket read) is kept as that piece. A body
 * in several is copied into one buffer as it comes, never kept as a list of its pieces:
 * Node hands a chunked body over one Buffer per chunk, each with its own backing store
 * and objects around it, so a 1 MB body sent in 1-byte chunks (6 MB on the wire) held far
 * more than the 1 MB the budget counted: 8 such bodies took a 1-worker gateway from 92 MB
 * to 1.5 GB RSS (bench/ISSUE-15.md, twenty-fourth round).
 */
import type { IncomingMessage } from 'node:http';
import { checkDeclaredSize, decodeBody, DecodeError, decodeInPool, type Encoding } from './content-encoding.ts';
import type { RejectReason } from './worker-metrics.ts';

/** A body that could not be read: answered with `status`, counted under `reason`. */
export class BodyError extends Error {
  override name = 'BodyError';
  readonly status: number;
  readonly reason: RejectReason;
  constructor(status: number, reason: RejectReason, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

/**
 * Bytes a worker holds for requests: bodies being received or decoded, and records
 * waiting for the owner. One per worker thread; single-threaded, so plain numbers.
 */
export class InflightBudget {
  used = 0;
  readonly limit: number;
  /** Told of every released byte: the buffers that held it are garbage from then on. */
  readonly #released: (bytes: number) => void;
  constructor(limit: number, released: (bytes: number) => void = () => {}) {
    this.limit = limit;
    this.#released = released;
  }

  /** Reserves `bytes` if they fit; false (nothing reserved) otherwise. */
  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
    this.#released(bytes);
  }
}

/** One request's reservation in the budget; release() is idempotent. */
export class Reservation {
  bytes = 0;
  private readonly budget: InflightBudget;
  constructor(budget: InflightBudget) {
    this.budget = budget;
  }

  /** Grows the reservation to `total` bytes; false when the budget has no room. */
  growTo(total: number): boolean {
    if (total <= this.bytes) return true;
    if (!this.budget.tryReserve(total - this.bytes)) return false;
    this.bytes = total;
    return true;
  }

  /** Shrinks the reservation to `total` bytes (what the request still holds). */
  shrinkTo(total: number): void {
    if (total >= this.bytes) return;
    this.budget.release(this.bytes - total);
    this.bytes = total;
  }

  release(): void {
    this.shrinkTo(0);
  }
}

export interface BodyLimits {
  maxBody: number;
  maxDecoded: number;
}

/**
 * Where a body is: arriving from the client, received and being decoded in libuv's pool,
 * or settled (`done` resolved or rejected; later events are ignored).
 */
export type BodyPhase = 'receiving' | 'decoding' | 'settled';

/** Reads `req`'s body; `done` settles once, with the body or a BodyError. */
export class BodyReader {
  readonly done: Promise<Buffer>;
  private resolve!: (body: Buffer) => void;
  private reject!: (err: BodyError) => void;
  #phase: BodyPhase = 'receiving';
  private wire = 0;
  private decodedSize = 0;
  /** Decoded bytes made and thrown away by a decode that failed (the cap, past it). */
  private discarded = 0;
  /** The body while it is one piece. */
  #piece: Buffer | undefined = undefined;
  /** The body once it came in more than one: its first `wire` bytes (capacity ahead). */
  #joined: Buffer | undefined = undefined;
  private readonly encoding: Encoding;

  private readonly req: IncomingMessage;
  private readonly limits: BodyLimits;
  private readonly reservation: Reservation;

  constructor(req: IncomingMessage, encoding: Encoding, limits: BodyLimits, reservation: Reservation) {
    this.req = req;
    this.encoding = encoding;
    this.limits = limits;
    this.reservation = reservation;
    this.done = new Promise<Buffer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    req.on('data', this.onData);
    req.on('end', this.onEnd);
    req.on('error', this.onError);
    req.on('close', this.onClose);
  }

  /**
   * Bytes this body made, received and decoded, whether still held or not: what a refused
   * body leaves behind as garbage (a decode stopped at the cap made `maxDecoded` bytes).
   */
  get bytesMade(): number {
    return this.wire + this.decodedSize + this.discarded;
  }

  /** See BodyPhase. */
  get phase(): BodyPhase {
    return this.#phase;
  }

  /** Fails the read (the body timeout, shutdown); the caller answers `err`. */
  abort(err: BodyError): void {
    this.fail(err);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.#phase === 'settled') return;
    this.wire += chunk.length;
    if (this.wire > this.limits.maxBody) {
      return this.fail(new BodyError(413, 'too_large', `body exceeds --max-body ${this.limits.maxBody} bytes`));
    }
    const first = this.#piece === undefined && this.#joined === undefined;
    // Reserved before it is allocated: a buffer the budget has no room for is never made.
    const capacity = first ? 0 : this.capacityFor(this.wire);
    if (!this.reserve(capacity)) return;
    if (!first) return this.append(chunk, capacity);
    if (this.encoding !== 'identity') {
      try {
        checkDeclaredSize(this.encoding, chunk, this.limits.maxDecoded);
      } catch (e) {
        return this.failDecode(e);
      }
    }
    this.#piece = chunk;
  };

  /**
   * The size of the buffer that holds `bytes` of a body in several pieces: the one it has
   * if they fit, else the declared Content-Length, or double, up to --max-body.
   */
  private capacityFor(bytes: number): number {
    const held = this.#joined?.length ?? 0;
    if (bytes <= held) return held;
    const declared = Number(this.req.headers['content-length'] ?? 0);
    return Math.min(this.limits.maxBody, Math.max(bytes, declared, 2 * held, 16 * 1024));
  }

  /** Copies `chunk` (counted in `wire` already) after what the body holds, in a buffer of `capacity` bytes. */
  private append(chunk: Buffer, capacity: number): void {
    const before = this.wire - chunk.length;
    let joined = this.#joined;
    if (joined === undefined || joined.length < capacity) {
      const grown = Buffer.allocUnsafe(capacity);
      (joined ?? this.#piece!).copy(grown, 0, 0, before);
      this.#piece = undefined;
      this.#joined = joined = grown;
    }
    chunk.copy(joined, before);
  }

  private readonly onEnd = (): void => {
    if (this.#phase === 'settled') return;
    if (this.encoding === 'identity') return this.succeed(this.joined());
    const body = this.joined();
    let decoded: Buffer | undefined;
    try {
      decoded = decodeBody(this.encoding, body, this.limits.maxDecoded);
    } catch (e) {
      return this.failDecode(e);
    }
    if (decoded !== undefined) return this.decoded(decoded);
    this.#phase = 'decoding';
    // Too large to inflate on this thread: the pool does it, each chunk reserved as it comes.
    // `out` is emptied as soon as the body fails: the zlib stream, and this closure with it,
    // lives until a GC collects its handle, and must not keep the decoded chunks that long.
    const out: Buffer[] = [];
    decodeInPool(this.encoding as 'gzip' | 'deflate' | 'zstd', body, this.limits.maxDecoded, (chunk) => {
      if (this.#phase !== 'settled') {
        this.decodedSize += chunk.length;
        if (this.reserve()) {
          out.push(chunk);
          return true;
        }
      }
      out.length = 0;
      return false;
    }).then(
      () => {
        if (this.#phase !== 'settled') this.succeed(out.length === 1 ? out[0] : Buffer.concat(out));
        out.length = 0;
      },
      (e: unknown) => {
        out.length = 0;
        this.failDecode(e);
      },
    );
  };

  private decoded(body: Buffer): void {
    this.decodedSize = body.length;
    if (this.reserve()) this.succeed(body);
  }

  private readonly onError = (): void => this.fail(new BodyError(400, 'bad_body', 'the request body was cut off'));

  private readonly onClose = (): void => {
    if (this.#phase !== 'settled' && !this.req.complete) this.fail(new BodyError(400, 'bad_body', 'the connection closed before the body was complete'));
  };

  /**
   * Reserves what we hold: the body's buffer (`capacity` bytes, or the one it has) or its
   * wire bytes, and the decoded bytes; fails with 503 past the budget.
   */
  private reserve(capacity = this.#joined?.length ?? 0): boolean {
    if (this.reservation.growTo(Math.max(this.wire, capacity) + this.decodedSize)) return true;
    this.fail(new BodyError(503, 'overloaded', 'this gateway holds too many request bytes in flight (--max-inflight-bytes), retry later'));
    return false;
  }

  private joined(): Buffer {
    return this.#piece ?? this.#joined?.subarray(0, this.wire) ?? Buffer.alloc(0);
  }

  private succeed(body: Buffer): void {
    if (this.#phase === 'settled') return;
    this.#phase = 'settled';
    this.detach();
    this.#piece = this.#joined = undefined;
    this.resolve(body);
  }

  private failDecode(e: unknown): void {
    if (!(e instanceof DecodeError)) throw e;
    if (this.#phase === 'settled') return;
    this.decodedSize = 0; // what a pool decode had reserved: nothing is held now
    this.discarded = e.decoded;
    this.fail(new BodyError(e.status, e.status === 413 ? 'too_large' : 'bad_body', e.message));
  }

  private fail(err: BodyError): void {
    if (this.#phase === 'settled') return;
    this.#phase = 'settled';
    this.detach();
    this.#piece = this.#joined = undefined;
    this.reject(err);
  }

  private detach(): void {
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('error', this.onError);
    this.req.off('close', this.onClose);
  }
}
