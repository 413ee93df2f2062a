/**
 * What an HTTP server of this gateway does at its connection cap, and how it refuses a
 * connection it will not serve. Shared by the data port's workers (--max-connections per
 * worker) and the admin port (admin-server.ts): each connection holds a descriptor of the
 * one process, and a port that keeps every connection it is offered lets an idle flood
 * take the descriptors every other port and the log need.
 */
import type { Socket } from 'node:net';
import { requestsInFlight } from './pipelining.ts';

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

/** What a connection cap did with a newcomer. */
export type Admission =
  /** Under the cap: kept. */
  | 'admitted'
  /** At the cap: a connection without a request went (503 and a close) to make room for it. */
  | 'made_room'
  /** Over the cap with none that may go: the newcomer got 503 and a close. */
  | 'refused';

/** The 503 messages of a server's cap, in its own words. */
export interface CapMessages {
  /** To a newcomer refused over the cap. */
  full: string;
  /** To a connection without a request closed for a newcomer. */
  madeRoom: string;
}

const RETRY_AFTER = 'retry-after: 1\r\n';

/**
 * The open connections of one HTTP server, each in one state, and the cap on them:
 *
 *   handshaking --TLS done--> fresh --request head--> serving --last answer--> closing
 *   (TLS only)                  \___________________________________________/
 *                                 closed to make room at the cap, while fresh
 *
 * - handshaking: TCP accepted, TLS handshake not done; counts toward the cap (it holds a
 *   descriptor) but nothing can be answered on it, so one evicted is only destroyed;
 * - fresh: no request head yet; evicted first at the cap (connectionToEvict);
 * - serving: has sent a request; never evicted (the keep-alive and slow-reader timeouts
 *   close it);
 * - closing: its last answer is given (a refusal, a `Connection: close`); what it sends
 *   after is ignored (pipelining.ts).
 *
 * The caller reports each admission (metrics, warnings): the two servers count them apart.
 * Nothing is stale: every set is updated on the socket's own events, in its thread.
 */
export class ConnectionCap {
  /** Connections past their handshake (every one, without TLS): the slow-reader sweep walks them. */
  readonly open = new Set<Socket>();
  private readonly handshaking = new Map<Socket, number>();
  private readonly fresh = new Map<Socket, number>();
  private readonly closing = new WeakSet<Socket>();
  private readonly max: number;
  private readonly waitedMs: number;
  private readonly messages: CapMessages;

  /**
   * @param max open connections kept, handshakes included
   * @param waitedMs how long a connection that sent bytes but no request head must have
   *   waited before it may be closed for a newcomer (checkIntervalMs)
   */
  constructor(max: number, waitedMs: number, messages: CapMessages) {
    this.max = max;
    this.waitedMs = waitedMs;
    this.messages = messages;
  }

  /** A TCP connection whose TLS handshake begins (the server's 'connection' event with TLS). */
  handshakeStarted(raw: Socket, now: number): Admission {
    this.handshaking.set(raw, now);
    raw.once('close', () => this.handshaking.delete(raw));
    if (this.open.size + this.handshaking.size <= this.max) return 'admitted';
    const evict = connectionToEvict(this.handshaking, raw, now, this.waitedMs);
    const gone = evict ?? raw;
    this.handshaking.delete(gone);
    gone.destroy();
    return evict === undefined ? 'refused' : 'made_room';
  }

  /**
   * A connection ready for requests: the server's 'connection' event, or 'secureConnection'
   * with TLS (whose TCP socket, Node's `_parent`, leaves the handshaking state).
   */
  opened(socket: Socket, now: number): Admission {
    const raw = (socket as Socket & { _parent?: Socket | null })._parent;
    if (raw) this.handshaking.delete(raw);
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      this.fresh.delete(socket);
    });
    let admission: Admission = 'admitted';
    if (this.open.size > this.max) {
      const idle = connectionToEvict(this.fresh, socket, now, this.waitedMs);
      if (idle === undefined) {
        this.closeWith503(socket, this.messages.full);
        return 'refused';
      }
      this.fresh.delete(idle);
      this.closeWith503(idle, this.messages.madeRoom);
      admission = 'made_room';
    }
    this.fresh.set(socket, now);
    return admission;
  }

  /** A request head arrived on `socket`: it is serving, never closed to make room. */
  requested(socket: Socket): void {
    this.fresh.delete(socket);
  }

  /** The answer being written on `socket` is its last: it is closing. */
  lastAnswerGiven(socket: Socket): void {
    this.closing.add(socket);
  }

  /** Whether `socket` had its last answer: a request parsed on it now is to be ignored. */
  isClosing(socket: Socket): boolean {
    return this.closing.has(socket);
  }

  private closeWith503(socket: Socket, message: string): void {
    this.closing.add(socket);
    answerAndClose(socket, '503 Service Unavailable', message, RETRY_AFTER);
  }
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

/**
 * Answers a CONNECT request (a server's 'connect' event) with 405 and a close: neither
 * server is a proxy, and a client that takes one for it (HTTPS_PROXY set to the gateway's
 * address) should read why. Without a listener Node closes such a connection without a
 * word. `allow` lists the methods the server does serve. Behind requests still in flight
 * on the connection (pipelined), the 405 would be written before their answers: the
 * connection is only closed then, as Node does, and the client retries them.
 * Returns whether the 405 was sent.
 */
export function answerConnect(socket: Socket, allow: string): boolean {
  if (requestsInFlight(socket) > 0) {
    socket.destroy();
    return false;
  }
  answerAndClose(socket, '405 Method Not Allowed', 'CONNECT is not served: this is a metrics gateway, not an HTTP proxy', `allow: ${allow}\r\n`);
  return true;
}
