/**
 * The kernel's view of a loopback TCP connection, from /proc/net/tcp (Linux): its state
 * and how many bytes wait in each socket's queues. What a process holds in its own
 * buffers is not there, and a client that does not read cannot see it otherwise: the
 * slow-reader tests use it to stop sending once the gateway's answers stop moving.
 */
import { readFileSync } from 'node:fs';

/** TCP states as /proc/net/tcp numbers them (include/net/tcp_states.h). */
const STATES: Record<number, string> = {
  1: 'ESTABLISHED',
  2: 'SYN_SENT',
  3: 'SYN_RECV',
  4: 'FIN_WAIT1',
  5: 'FIN_WAIT2',
  6: 'TIME_WAIT',
  7: 'CLOSE',
  8: 'CLOSE_WAIT',
  9: 'LAST_ACK',
  10: 'LISTEN',
  11: 'CLOSING',
};

export interface SocketQueues {
  state: string;
  /** Bytes written by the process and not yet acknowledged by the peer (sent or not). */
  sendQueue: number;
  /** Bytes received and not yet read by the process. */
  receiveQueue: number;
}

/** One row of /proc/net/tcp: the socket's local and remote port, and its queues. */
export interface TcpRow extends SocketQueues {
  localPort: number;
  remotePort: number;
}

/**
 * The loopback (127.0.0.1) sockets in `text`, the contents of /proc/net/tcp; the caller
 * reads the file as it can afford (a benchmark's sampler must not block its clients).
 */
export function loopbackTcpRows(text: string): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (!fields[1]?.startsWith('0100007F:')) continue;
    const [tx, rx] = fields[4]!.split(':');
    rows.push({
      localPort: parseInt(fields[1].slice(9), 16),
      remotePort: parseInt(fields[2]!.slice(9), 16),
      state: STATES[parseInt(fields[3]!, 16)] ?? fields[3]!,
      sendQueue: parseInt(tx!, 16),
      receiveQueue: parseInt(rx!, 16),
    });
  }
  return rows;
}

/**
 * The socket on 127.0.0.1:`localPort` connected to 127.0.0.1:`remotePort`, or undefined
 * once the kernel has none (closed and gone).
 */
export function socketQueues(localPort: number, remotePort: number): SocketQueues | undefined {
  return loopbackTcpRows(readFileSync('/proc/net/tcp', 'latin1')).find((r) => r.localPort === localPort && r.remotePort === remotePort);
}
