/**
 * Clients that do not read their answers, cut after --body-timeout.
 *
 * An answer the kernel will not take (the client's receive window and this side's send
 * buffer are full) waits in the socket's own buffer, and Node waits with it, for as long
 * as the client likes: no keep-alive timer starts before the last answer is written, and
 * the headers timeout covers requests still arriving, not answers leaving. A client that
 * sent requests (health checks, a pipeline within MAX_PIPELINED) and stopped reading held
 * its connection forever, and with it up to tcp_wmem's 4 MiB of kernel memory on this side:
 * a thousand such connections per worker pass the memory the kernel allows all of TCP,
 * which then slows every connection on the machine (the "slow read" attack).
 *
 * So a connection whose answers have been waiting in the process at every sweep for
 * --body-timeout, the same time a client gets to send a request, is reset. An answer here
 * is a few hundred bytes: waiting that long means megabytes of earlier answers unread. The
 * reset (RST, not FIN) drops what the kernel still holds for the client at once, where a
 * close would leave it retrying into a closed window for minutes (TLS: see cutSlowReader). What was answered and
 * not read was stored all the same; the client retries it (at-least-once, as for any
 * answer lost with its connection).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

const WAITING_SINCE = Symbol('answersWaitingSince');
type TimedSocket = Socket & { [WAITING_SINCE]?: number };

/**
 * Called for every open connection at each sweep: true once `socket` has had answer bytes
 * it could not hand to the kernel at every sweep for more than `timeoutMs` (the caller
 * cuts it with cutSlowReader). A sweep that finds them all handed over starts it afresh.
 */
export function readsTooSlowly(socket: Socket, now: number, timeoutMs: number): boolean {
  const timed = socket as TimedSocket;
  if (socket.writableLength === 0) {
    timed[WAITING_SINCE] = undefined;
    return false;
  }
  const since = (timed[WAITING_SINCE] ??= now);
  return now - since > timeoutMs;
}

/**
 * Resets `socket`: the kernel drops what it still holds for the client. A TLS socket is
 * only destroyed (a close): resetting the TCP socket under Node's TLS layer crashes the
 * process (Node 24), so there the kernel keeps retrying what it holds until it gives up.
 */
export function cutSlowReader(socket: Socket): void {
  if ((socket as TLSSocket).encrypted === true) socket.destroy();
  else socket.resetAndDestroy();
}
