/**
 * What an output protocol module provides to the delivery loop: how a chunk of samples
 * becomes one HTTP request body. One module per protocol (remote-write.ts, influx.ts).
 */
import type { SampleBatch } from './samples.ts';

/** One request's body and the protocol's headers. */
export interface EncodedRequest {
  body: Buffer;
  headers: Record<string, string>;
}

export interface WireFormat {
  /** The --sink name. */
  readonly name: string;
  /** Whether the protocol can carry sample `i` of `batch` exactly (the others are skipped and counted as 'unrepresentable'). */
  representable(batch: SampleBatch, i: number): boolean;
  /**
   * Encodes the samples `indexes` of `batch` (already chunked, oldest first) into one
   * request. Synchronous: encoders use per-series scratch fields and shared buffers.
   */
  encode(batch: SampleBatch, indexes: ArrayLike<number>): EncodedRequest;
  /** The URL to POST to, from the user's --sink-url (adds parameters the protocol needs). */
  prepareUrl(url: URL): URL;
}
