/**
 * Typed access to the part of autocannon that the load tool uses. autocannon ships no
 * type declarations and is CommonJS, so it is loaded with createRequire and given the
 * narrow interface below; the interface mirrors autocannon 9's README and lib/run.js
 * and may be stale for other major versions.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';

/** The per-connection client autocannon hands to `setupClient` (README "Client API"). */
export interface AutocannonClient extends EventEmitter {
  /** Replaces the headers of this connection's request; merged over the instance headers. */
  setHeaders(headers: Record<string, string>): void;
}

/** The options of `autocannon(opts)` this tool sets. */
export interface AutocannonOptions {
  url: string;
  method: 'POST';
  body: Buffer;
  headers: Record<string, string>;
  connections: number;
  /** Total requests over all connections; split evenly, remainder to the first ones. */
  amount?: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  /** Requests per second over all connections; unset: as fast as the server answers. */
  overallRate?: number;
  /** Seconds without a response before a request counts as a timeout. */
  timeout: number;
  /** Milliseconds between samples; also how often a finished run is noticed. */
  sampleInt: number;
  /** Called once per connection, before its first request. */
  setupClient: (client: AutocannonClient) => void;
}

/** Subset of autocannon's result object (README "Results"). */
export interface AutocannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  /** Seconds, measured until the sampler noticed the end (so rounded up to sampleInt). */
  duration: number;
}

/** A running autocannon instance: an EventEmitter that is also a promise of its result. */
export interface AutocannonInstance extends EventEmitter, PromiseLike<AutocannonResult> {
  /** Ends the run early; the promise then resolves with what was measured so far. */
  stop(): void;
}

/** Options of `autocannon.track` (progress bar rendering). */
export interface TrackOptions {
  outputStream: NodeJS.WritableStream;
  renderProgressBar: boolean;
  renderResultsTable: boolean;
  renderLatencyTable: boolean;
}

interface AutocannonModule {
  (opts: AutocannonOptions): AutocannonInstance;
  track(instance: AutocannonInstance, opts: TrackOptions): void;
}

const require = createRequire(import.meta.url);

/** autocannon's default export with the types above. */
export const autocannon = require('autocannon') as AutocannonModule;
