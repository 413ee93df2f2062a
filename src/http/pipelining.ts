/**
 * HTTP/1.1 pipelining, bounded per connection.
 *
 * Node's server parses every request a connection sends, hands each to the handler at
 * once and writes their answers in order, keeping those it cannot write yet. It stops
 * reading only while unwritten answers pass the socket's high-water mark, and reads on as
 * soon as one of them moves into the socket's own buffer, whether or not the client reads
 * it. A client that pipelines without waiting makes a worker hold as many requests as it
 * can send: 200 connections that pipelined and never read took a 2-worker gateway from
 * 98 MB to 900 MB RSS in 30 s and left its other clients a p50 of 5.2 s (bench/attack.ts
 * `--attack pipeline`; bench/ISSUE-15.md, twenty-fourth round).
 *
 * So, per connection, checked as each request arrives:
 * - MAX_PIPELINED requests in flight (arrived, not yet answered). The one after is
 *   refused (503, `Connection: close`), and what the client pipelined after it is neither
 *   stored nor answered: RFC 9112 (9.3.2) has a client that pipelines retry what a closed
 *   connection left unanswered.
 * - MAX_IGNORED requests after a connection's last answer (this refusal, or any other
 *   that closes the connection). Node cannot be told to stop reading a plain HTTP
 *   connection (its parser consumes the socket natively; `socket.pause()` does not reach
 *   it), and each request read costs a request and a response object until the
 *   connection closes, which is not before the answers ahead of the last one are written.
 *   Past MAX_IGNORED the connection is closed at once, and the answers not yet written
 *   are lost with it (the client retries them: at-least-once, as for any lost answer).
 *
 * A request stays in flight until its answer is written to the kernel, so the first limit
 * also bounds the answers a client that does not read leaves in this process, once its
 * socket buffers are full: it reaches MAX_PIPELINED and is refused. A client that stops
 * sending before that is cut by the slow-reader sweep (slow-readers.ts), which also closes
 * a refused connection whose last answer cannot be written.
 *
 * No agent metricstream serves pipelines (Prometheus, vmagent, the OpenTelemetry SDKs and
 * the Influx clients send one request at a time per connection), so neither is a setting.
 */
import type { Socket } from 'node:net';

/** Requests one connection may have in flight; the one after is refused. */
export const MAX_PIPELINED = 16;

/** Requests read after a connection's last answer before it is closed at once. */
export const MAX_IGNORED = 64;

const IN_FLIGHT = Symbol('requestsInFlight');
const IGNORED = Symbol('requestsIgnored');
type CountedSocket = Socket & { [IN_FLIGHT]?: number; [IGNORED]?: number };

/** Counts a request that arrived on `socket`; returns how many it has in flight now. */
export function requestArrived(socket: Socket): number {
  const counted = socket as CountedSocket;
  return (counted[IN_FLIGHT] = (counted[IN_FLIGHT] ?? 0) + 1);
}

/** Requests in flight on `socket`: arrived, not yet answered. */
export function requestsInFlight(socket: Socket): number {
  return (socket as CountedSocket)[IN_FLIGHT] ?? 0;
}

/** Counts a request on `socket` answered, or abandoned with its connection. */
export function requestClosed(socket: Socket): void {
  (socket as CountedSocket)[IN_FLIGHT]! -= 1;
}

/**
 * Counts a request read on `socket` after its last answer (ignored: neither stored nor
 * answered); true once more than MAX_IGNORED were: the caller closes the connection.
 */
export function ignoredTooMany(socket: Socket): boolean {
  const counted = socket as CountedSocket;
  return (counted[IGNORED] = (counted[IGNORED] ?? 0) + 1) > MAX_IGNORED;
}
