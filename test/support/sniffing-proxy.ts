/**
 * A TCP proxy in front of the gateway that forwards every byte both ways and keeps the
 * head of each HTTP request it sees from the client: for tests that must know how a real
 * client sent its requests (its Content-Encoding, say), which the gateway does not report.
 */
import net from 'node:net';

export interface SniffingProxy {
  port: number;
  /** Request heads seen so far (request line and headers, lower-cased), in order. */
  heads(): string[];
  close(): Promise<void>;
}

export async function startSniffingProxy(targetPort: number): Promise<SniffingProxy> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    // Heads are found in the byte stream by their shape (a head split across reads too:
    // the unscanned tail is kept); a body that contained such text would be miscounted,
    // which the tests' binary or line-protocol bodies never do.
    let tail = '';
    client.on('data', (d: Buffer) => {
      tail += d.toString('latin1');
      const head = /(?:^|\r\n)((?:POST|PUT|GET) \S+ HTTP\/1\.1\r\n[\s\S]*?)\r\n\r\n/g;
      let end = 0;
      for (let m; (m = head.exec(tail)) !== null; end = head.lastIndex) seen.push(m[1].toLowerCase());
      tail = tail.slice(Math.max(end, tail.length - 16_384));
    });
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    heads: () => [...seen],
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
