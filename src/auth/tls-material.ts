/**
 * The data port's TLS files: read (at start and on SIGHUP) by the supervisor, checked by
 * building a secure context from them, and posted to each worker as PEM text, which the
 * worker hands to `https.createServer` or, on reload, to `server.setSecureContext` (new
 * connections get the new certificate, open ones keep theirs: nothing is dropped).
 */
import type { SecureContextOptions, TLSSocket } from 'node:tls';

/** PEM text of the certificate chain, key and (mTLS) client CA. */
export interface TlsMaterial {
  cert: string;
  key: string;
  clientCa: string | undefined;
}

export interface TlsFiles {
  cert: string;
  key: string;
  clientCa: string | undefined;
}

/** Reads and checks the files; throws with a message naming the bad file. */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const read = (flag: string, file: string) => {
    try {
      return process.getBuiltinModule('node:fs').readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`--${flag} ${file}: ${(e as Error).message}`);
    }
  };
  const material: TlsMaterial = {
    cert: read('tls-cert', files.cert),
    key: read('tls-key', files.key),
    clientCa: files.clientCa === undefined ? undefined : read('tls-client-ca', files.clientCa),
  };
  try {
    // node:tls on use only: workers import this module, and most serve plain HTTP.
    process.getBuiltinModule('node:tls').createSecureContext(secureContextOptions(material));
  } catch (e) {
    throw new Error(`--tls-cert/--tls-key/--tls-client-ca: ${(e as Error).message}`);
  }
  return material;
}

/**
 * Server options for `material`. With a client CA the handshake requires a client
 * certificate signed by it: a client without one never gets to send a request.
 */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.clientCa !== undefined ? { ca: material.clientCa } : {}),
    requestCert: material.clientCa !== undefined,
    rejectUnauthorized: material.clientCa !== undefined,
    minVersion: 'TLSv1.2',
  };
}

const subjects = new WeakMap<TLSSocket, string | null>();

/**
 * `CN=<common name>` of the verified client certificate on `socket`, or undefined (plain
 * HTTP, no certificate, or one that did not verify). Read once per connection.
 */
export function peerSubject(socket: unknown): string | undefined {
  const s = socket as TLSSocket;
  if (typeof s.getPeerCertificate !== 'function' || !s.authorized) return undefined;
  let subject = subjects.get(s);
  if (subject === undefined) {
    const cn = s.getPeerCertificate().subject?.CN;
    subject = typeof cn === 'string' && cn !== '' ? `CN=${cn}` : null;
    subjects.set(s, subject);
  }
  return subject ?? undefined;
}
