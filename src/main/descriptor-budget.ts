/**
 * The descriptors a gateway may open (`ulimit -n`: the soft RLIMIT_NOFILE) and who gets
 * them. Every connection, on the data port and the admin port, is a descriptor of the one
 * process, and so is every segment the log opens. With the limit a shell gives by default
 * (1024) and the default 1024 connections per worker, an idle flood on the data port took
 * them all: the log could not open its next segment (EMFILE, requests answered 503 until a
 * descriptor was free) and no new client was accepted (bench/ISSUE-15.md, twenty-sixth
 * round). So --max-connections defaults to what the limit leaves each worker once the rest
 * of the process has its share, and a larger value given by hand is warned about at start.
 * The packaged service raises the limit (deploy/metricstream.service: LimitNOFILE=65536),
 * which leaves the default at 1024.
 */
import { readFileSync } from 'node:fs';
import { ADMIN_MAX_CONNECTIONS } from './admin-server.ts';

/** --max-connections when the limit allows it. */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/**
 * The soft limit on open descriptors from `/proc/self/limits` (Node has no getrlimit);
 * undefined where there is none to read (not Linux) or it is unlimited.
 */
export function descriptorLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'latin1');
    } catch {
      return undefined;
    }
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined;
}

/**
 * Descriptors kept for everything but the data port's connections: Node's own (stdio, the
 * event loops' epoll and wake-up descriptors, a few per thread), each worker's listening
 * socket, the log's segments and index files (the open one per partition, the next one
 * while it rolls, the journal), the admin port's connections, and room for what opens now
 * and then (the auth file, a Kafka broker's sockets, a retention pass). Measured idle and
 * after a load (`ls /proc/<pid>/fd`): 49 with 2 workers and 4 partitions (reserved: 161),
 * 147 with 16 workers (273), 267 with 16 workers and 64 partitions (513).
 */
export function reservedDescriptors(workers: number, partitions: number): number {
  return 64 + 8 * workers + 4 * partitions + ADMIN_MAX_CONNECTIONS + 1;
}

/** Connections per worker that `limit` leaves (at least 1), never more than DEFAULT_MAX_CONNECTIONS. */
export function connectionsWithin(limit: number, workers: number, partitions: number): number {
  return Math.max(1, Math.min(DEFAULT_MAX_CONNECTIONS, Math.floor((limit - reservedDescriptors(workers, partitions)) / workers)));
}

/**
 * A warning when `maxConnections` per worker, given by hand, lets connections take the
 * descriptors the rest of the process needs; undefined when it fits (or no limit is known).
 */
export function overBudgetWarning(maxConnections: number, workers: number, partitions: number, limit: number | undefined): string | undefined {
  if (limit === undefined) return undefined;
  const reserved = reservedDescriptors(workers, partitions);
  if (workers * maxConnections + reserved <= limit) return undefined;
  return (
    `--workers ${workers} x --max-connections ${maxConnections} connections, with the ${reserved} descriptors the rest of the gateway needs, ` +
    `pass the descriptor limit (ulimit -n ${limit}): a connection flood can take the descriptors the log needs (EMFILE: requests answered 503). ` +
    `Raise the limit (ulimit -n, LimitNOFILE=) or lower --max-connections to ${connectionsWithin(limit, workers, partitions)}.`
  );
}
