/**
 * Refuses to start a gateway on a port that is already served. The HTTP workers share their
 * port with `reusePort`, and the kernel lets any other socket with `reusePort` (same user)
 * join it: a second gateway started on a served port would silently take part of the
 * traffic into its own data dir, splitting clients' records across two logs. So before the
 * workers bind, the supervisor:
 *
 *  1. takes a per-address lock: an abstract Unix socket named after host:port, held until
 *     the process exits (the kernel frees it even on kill -9), which closes the window
 *     between two gateways starting at the same moment;
 *  2. binds host:port once WITHOUT reusePort and closes it again: that bind fails while
 *     anything, another gateway's reusePort workers included, listens there.
 */
import net from 'node:net';
import os from 'node:os';

/** The port is in use; the message says so in words a user acts on. */
export class PortServedError extends Error {
  override name = 'PortServedError';
}

function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function served(host: string, port: number, detail: string): PortServedError {
  return new PortServedError(
    `port ${port} on ${host} is already served (${detail}): refusing to start a second gateway there, ` +
      `it would take part of the traffic into its own data dir. Stop the other one or pick another --port.`,
  );
}

/**
 * Throws PortServedError when host:port is already served. Port 0 (a free port picked by
 * the kernel) is never checked. Returns the lock to release at shutdown (null when none:
 * port 0, or a platform without abstract sockets).
 */
export async function claimPort(host: string, port: number): Promise<{ release(): void } | null> {
  if (port === 0) return null;
  let lock: net.Server | null = null;
  if (os.platform() === 'linux') {
    lock = net.createServer();
    try {
      await listen(lock, { path: `\0metricstream-gateway:${host}:${port}` });
      lock.unref();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw served(host, port, 'another metricstream gateway holds it');
      lock = null; // no abstract sockets here: the bind probe below still runs
    }
  }
  const probe = net.createServer();
  try {
    await listen(probe, { host, port, exclusive: true });
  } catch (e) {
    lock?.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw served(host, port, 'something listens there, another gateway or another program');
    throw e;
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const held = lock;
  return held ? { release: () => held.close() } : null;
}
