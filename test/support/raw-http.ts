/**
 * Raw HTTP/1.1 over a socket, for what fetch cannot send: exact header bytes (UTF-8 or
 * Latin-1 client ids), Expect: 100-continue without a body, partial bodies, idle sockets.
 */
import net from 'node:net';

export interface RawAnswer {
  /** Everything the server sent, as Latin-1 text (bytes preserved). */
  text: string;
  /** Status codes of every response line seen, in order (100 Continue included). */
  statuses: number[];
  /** The JSON body of the last response, if any. */
  json: Record<string, unknown> | undefined;
  headers: Record<string, string>;
}

export function parseAnswer(text: string): RawAnswer {
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  const lastHead = text.lastIndexOf('HTTP/1.1 ');
  const split = text.indexOf('\r\n\r\n', lastHead);
  const headers: Record<string, string> = {};
  for (const line of text.slice(lastHead, split === -1 ? undefined : split).split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let json: Record<string, unknown> | undefined;
  try {
    json = split === -1 ? undefined : JSON.parse(text.slice(split + 4));
  } catch {
    json = undefined;
  }
  return { text, statuses, json, headers };
}

/**
 * Sends `head` (request line + headers, without the blank line) and `body`, then waits
 * until the server closes or `waitMs` passes; resolves with what came back.
 */
export function rawRequest(port: number, head: Buffer | string, body: Buffer | string = '', waitMs = 3000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(Buffer.concat(chunks).toString('latin1')));
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (d) => chunks.push(d));
    socket.on('close', done);
    socket.on('error', (e) => (chunks.length > 0 ? done() : reject(e)));
    socket.write(Buffer.concat([Buffer.isBuffer(head) ? head : Buffer.from(head, 'latin1'), Buffer.from('\r\n\r\n'), Buffer.from(body)]));
  });
}

/** A POST /metrics head with a correct Content-Length for `body` and extra header lines. */
export function metricsHead(body: Buffer | string, headers: (string | Buffer)[]): Buffer {
  const lines: Buffer[] = [Buffer.from(`POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close`)];
  for (const h of headers) lines.push(Buffer.from('\r\n'), Buffer.isBuffer(h) ? h : Buffer.from(h, 'latin1'));
  return Buffer.concat(lines);
}
