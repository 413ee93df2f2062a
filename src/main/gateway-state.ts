import { CACHE_LINE } from '../ring/ring-descriptor.ts';

/**
 * Words the owner writes and every HTTP worker reads per request, without a message:
 * whether the sink can take writes (/readyz, 503 when not) and whether the gateway is
 * shutting down.
 *
 * ```
 *   byte 0    | READY     int32  1 = the sink accepts writes  |  line 0
 *       128   | DRAINING  int32  1 = shutdown began           |  line 1
 * ```
 */
const READY = 0;
const DRAINING = CACHE_LINE / 4;

export function createGatewayStateStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(2 * CACHE_LINE);
}

export class GatewayState {
  private readonly words: Int32Array;
  constructor(storage: SharedArrayBuffer) {
    this.words = new Int32Array(storage);
  }
  /** Whether the sink accepted writes when the owner last looked; may be stale by a tick. */
  get ready(): boolean {
    return Atomics.load(this.words, READY) === 1;
  }
  set ready(value: boolean) {
    Atomics.store(this.words, READY, value ? 1 : 0);
  }
  /** Whether shutdown began: new writes are refused with 503. */
  get draining(): boolean {
    return Atomics.load(this.words, DRAINING) === 1;
  }
  set draining(value: boolean) {
    Atomics.store(this.words, DRAINING, value ? 1 : 0);
  }
}
