/**
 * What an HTTP server of this gateway does at its connection cap, and how it refuses a
 * connection it will not serve. Shared by the data port's workers (--max-connections per
 * worker) and the admin port (admin-server.ts): each connection holds a descriptor of the
 * one process, and a port that keeps every connection it is offered lets an idle flood
 * take the descriptors every other port and the log need.
 */
import type { Socket } from 'node:net';

/**
 * How often a server looks at its connections (Node's headers-timeout check, the
 * slow-body and slow-reader sweeps), and how long a connection that sent no request must
 * have waited before it may be closed for a newcomer: a tenth of a second to a second,
 * never more than --body-timeout.
 */
export function checkIntervalMs(bodyTimeoutMs: number): number {
  return Math.max(100, Math.min(1000, bodyTimeoutMs));
}

/** How many of the oldest candidates a newcomer over the cap looks at. */
const EVICT_SCAN = 64;

/**
 * The connection to close for `newcomer` at the cap, among `candidates` (oldest first, with
 * when they connected: those without a request, or still in their TLS handshake): the
 * oldest that has sent not one byte, however young (a client sends its request or its
 * ClientHello as soon as it connects), or else the oldest that has waited `waitedMs`
 * (checkIntervalMs). With only the second rule, a flood that comes back at once keeps the
 * oldest younger than that, and legitimate newcomers were the ones refused
 * (bench/ISSUE-15.md, twenty-fifth round). Undefined: none may go, refuse the newcomer.
 */
export function connectionToEvict(candidates: Map<Socket, number>, newcomer: Socket, now: number, waitedMs: number): Socket | undefined {
  let looked = 0;
  let waited: Socket | undefined;
  for (const [socket, since] of candidates) {
    if (socket === newcomer) continue;
    if (socket.bytesRead === 0) return socket;
    if (waited === undefined && now - since >= waitedMs) waited = socket;
    if (++looked === EVICT_SCAN) break;
  }
  return waited;
}

/**
 * A raw JSON error answer on a socket the HTTP layer will not answer itself (over the cap,
 * a malformed request head), then a full close.
 */
export function answerAndClose(socket: Socket, status: string, message: string, extra = ''): void {
  const body = JSON.stringify({ error: message });
  // end() alone would half-close and keep the descriptor until the peer closes too
  // (FIN-WAIT-2 forever against a silent client): destroy once the answer is flushed,
  // and after a second at most if the peer does not even read it.
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n${extra}\r\n${body}`, () => socket.destroy());
  const deadline = setTimeout(() => socket.destroy(), 1000).unref();
  // The timer would keep the socket (its parser, its buffers) for that second after a close.
  socket.once('close', () => clearTimeout(deadline));
}

/**
 * Answers a request head Node's parser refused on `socket` (a server's 'clientError'): 408
 * when it did not arrive within `timeoutMs`, 431 for headers too large, 400 for anything
 * else malformed, each followed by a close. A socket the client already reset or closed is
 * only destroyed. Returns the status answered, undefined when none was.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket, timeoutMs: number): 408 | 431 | 400 | undefined {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return undefined;
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    answerAndClose(socket, '408 Request Timeout', `request headers not received within ${timeoutMs} ms`);
    return 408;
  }
  const overflow = err.code === 'HPE_HEADER_OVERFLOW';
  answerAndClose(socket, overflow ? '431 Request Header Fields Too Large' : '400 Bad Request', `malformed HTTP request (${err.code ?? 'parse error'})`);
  return overflow ? 431 : 400;
}
