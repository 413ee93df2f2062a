/**
 * Helpers for the tenants-and-security tests: an auth file on disk, one HTTP(S) request
 * with any headers and TLS options, and a CA, server and client certificates made with
 * the `openssl` command line.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { hashToken } from '../../src/auth/token-hash.ts';

export interface TenantFixture {
  tokens?: string[];
  certSubjects?: string[];
  limits?: Record<string, number>;
}

/** Writes an auth file with the hashes of the given raw tokens; returns its path. */
export function writeAuthFile(file: string, tenants: Record<string, TenantFixture>, defaults?: Record<string, number>): string {
  const json = {
    tenants: Object.fromEntries(
      Object.entries(tenants).map(([id, t]) => [id, { tokens: (t.tokens ?? []).map(hashToken), ...(t.certSubjects ? { certSubjects: t.certSubjects } : {}), ...(t.limits ? { limits: t.limits } : {}) }]),
    ),
    ...(defaults ? { defaults: { limits: defaults } } : {}),
  };
  writeFileSync(file, JSON.stringify(json, null, 2));
  return file;
}

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** https: the serial number of the certificate the server presented. */
  serverSerial?: string;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** https with these TLS options (ca, cert, key). */
  tls?: https.RequestOptions;
  agent?: http.Agent;
}

/** One request to 127.0.0.1:port; rejects on a connection or TLS error. */
export function request(port: number, opts: RequestOptions = {}): Promise<Reply> {
  const body = opts.body ?? '';
  const options: https.RequestOptions = {
    host: '127.0.0.1',
    port,
    method: opts.method ?? 'POST',
    path: opts.path ?? '/metrics',
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...opts.headers },
    ...(opts.agent ? { agent: opts.agent } : {}),
    ...opts.tls,
  };
  return new Promise((resolve, reject) => {
    const req = (opts.tls ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const socket = res.socket as import('node:tls').TLSSocket;
      const serverSerial = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate().serialNumber : undefined;
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), ...(serverSerial ? { serverSerial } : {}) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A seed-endpoint body with `n` metrics. */
export function metricsBody(n = 1, name = 'cpu'): string {
  return JSON.stringify({ metrics: Array.from({ length: n }, (_, i) => ({ name, value: i, tags: { i: String(i) } })) });
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

export interface Pki {
  dir: string;
  caCert: string;
  /** Server certificate for 127.0.0.1 / localhost, and its key. */
  serverCert: string;
  serverKey: string;
  /** Makes a client certificate with this CN signed by the CA; returns [cert, key] paths. */
  client(cn: string): [string, string];
  /** Makes a new server certificate (new serial) into the given paths, for reload tests. */
  renewServer(certPath: string, keyPath: string): void;
}

/** A CA and a server certificate made with openssl in `dir`. */
export function makePki(dir: string): Pki {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=metricstream test CA', '-keyout', 'ca.key', '-out', 'ca.pem'], dir);
  const sign = (name: string, cn: string, ext: string, certPath: string, keyPath: string) => {
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`, '-keyout', keyPath, '-out', `${name}.csr`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', certPath], dir);
  };
  const serverExt = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';
  sign('server', 'localhost', serverExt, 'server.pem', 'server.key');
  return {
    dir,
    caCert: path.join(dir, 'ca.pem'),
    serverCert: path.join(dir, 'server.pem'),
    serverKey: path.join(dir, 'server.key'),
    client(cn) {
      const name = `client-${cn.replace(/[^a-z0-9]/gi, '_')}`;
      sign(name, cn, 'extendedKeyUsage=clientAuth\n', `${name}.pem`, `${name}.key`);
      return [path.join(dir, `${name}.pem`), path.join(dir, `${name}.key`)];
    },
    renewServer(certPath, keyPath) {
      sign('server2', 'localhost', serverExt, certPath, keyPath);
    },
  };
}
