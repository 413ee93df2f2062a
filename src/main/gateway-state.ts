import { CACHE_LINE } from '../ring/ring-descriptor.ts';

/**
 * Words the owner writes and every HTTP worker reads per request, without a message:
 * whether the sink can take writes (/readyz, 503 when not), whether the gateway is
 * shutting down, and whether the sink's commit in flight is stalled.
 *
 * ```
 *   byte 0    | READY     int32  1 = the sink accepts writes            |  line 0
 *       128   | DRAINING  int32  1 = shutdown began                     |  line 1
 *       256   | STALLED   int32  1 = the commit in flight is stalled    |  line 2
 * ```
 */
const READY = 0;
const DRAINING = CACHE_LINE / 4;
const STALLED = (2 * CACHE_LINE) / 4;

export function createGatewayStateStorage(): SharedArrayBuffer {
  return new SharedArrayBuffer(3 * CACHE_LINE);
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
  /**
   * Whether the sink's append in flight has waited past its stall limit (Sink.stalled):
   * new writes are refused with 503 rather than queued behind it. Stale by a tick.
   */
  get stalled(): boolean {
    return Atomics.load(this.words, STALLED) === 1;
  }
  set stalled(value: boolean) {
    Atomics.store(this.words, STALLED, value ? 1 : 0);
  }
}
