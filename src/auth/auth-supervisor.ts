/**
 * The supervisor's side of auth: loads the auth file and the TLS files at start, owns the
 * shared rate-limit buckets and the tenant slots, gives each new worker what it needs, and
 * on SIGHUP re-reads and validates both files and posts the new table / certificate to
 * every worker. A file that fails validation is logged and the running table (or
 * certificate) is kept: a typo must never lock every tenant out or take the port down.
 */
import type { Logger } from 'pino';
import { loadAuthFile } from './auth-file.ts';
import { TenantSlots, type AuthTable } from './auth-table.ts';
import { createRateLimitStorage } from './rate-limiter.ts';
import { createTenantMetricsStorage } from './tenant-metrics.ts';
import { loadTlsMaterial, type TlsMaterial } from './tls-material.ts';
import type { AuthMessage, WorkerAuthData } from './worker-auth.ts';

export interface AuthSettings {
  auth: 'client-id' | 'tokens';
  authFile: string | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsClientCa: string | undefined;
  host: string;
}

/** Fewest tenant slots per run; twice the tenants at start when that is more. */
const MIN_TENANT_SLOTS = 1024;

/** What a reload did, for the log line and the tests. */
export interface ReloadResult {
  auth: 'reloaded' | 'kept' | 'none';
  tls: 'reloaded' | 'kept' | 'none';
  tenants: number;
}

export class AuthSupervisor {
  readonly slots: TenantSlots;
  readonly limits: SharedArrayBuffer;
  readonly #settings: AuthSettings;
  readonly #logger: Logger;
  #table: AuthTable | undefined;
  #tls: TlsMaterial | undefined;
  #generation = 0;

  /** Throws (the gateway does not start) when a file is missing or invalid. */
  constructor(settings: AuthSettings, logger: Logger) {
    this.#settings = settings;
    this.#logger = logger;
    const file = settings.auth === 'tokens' ? loadAuthFile(settings.authFile!) : undefined;
    this.slots = new TenantSlots(file === undefined ? 0 : Math.max(MIN_TENANT_SLOTS, 2 * file.size));
    this.#table = file === undefined ? undefined : this.slots.table(file);
    this.limits = createRateLimitStorage(this.slots.capacity);
    this.#tls = this.#tlsFiles() === undefined ? undefined : loadTlsMaterial(this.#tlsFiles()!);
    if (settings.auth === 'client-id' && !isLoopback(settings.host)) {
      process.stderr.write(
        `metricstream: WARNING: --auth client-id on ${settings.host}: the Authorization header is not checked, ` +
          'anyone who can reach this port can write as any client id. Use --auth tokens --auth-file FILE, or --host 127.0.0.1.\n',
      );
    }
  }

  get tls(): boolean {
    return this.#tls !== undefined;
  }

  /**
   * A new worker's auth data: the current table and certificate, and its per-tenant
   * counters: `counters` of the worker it replaces (so sums never go backwards), or fresh.
   */
  workerData(counters?: SharedArrayBuffer): WorkerAuthData {
    return {
      mode: this.#settings.auth,
      table: this.#table,
      limits: this.limits,
      tenantMetrics: counters ?? createTenantMetricsStorage(this.slots.capacity),
      tls: this.#tls,
    };
  }

  /**
   * Re-reads both files; returns what to post to every worker (undefined when nothing
   * changed) and what happened. Never throws.
   */
  reload(): { message: AuthMessage | undefined; result: ReloadResult } {
    const result: ReloadResult = { auth: 'none', tls: 'none', tenants: 0 };
    const message: AuthMessage = { type: 'auth-reload', generation: ++this.#generation };
    if (this.#settings.auth === 'tokens') {
      try {
        const table = this.slots.table(loadAuthFile(this.#settings.authFile!));
        this.#table = table;
        message.table = table;
        result.auth = 'reloaded';
      } catch (e) {
        result.auth = 'kept';
        this.#logger.error({ err: (e as Error).message, file: this.#settings.authFile }, 'auth file not reloaded: keeping the running table');
      }
      result.tenants = this.#table!.tenants.filter((t) => t !== null).length;
    }
    const files = this.#tlsFiles();
    if (files !== undefined) {
      try {
        const material = loadTlsMaterial(files);
        this.#tls = material;
        message.tls = material;
        result.tls = 'reloaded';
      } catch (e) {
        result.tls = 'kept';
        this.#logger.error({ err: (e as Error).message }, 'TLS files not reloaded: keeping the running certificate');
      }
    }
    return { message: message.table || message.tls ? message : undefined, result };
  }

  #tlsFiles() {
    const s = this.#settings;
    return s.tlsCert === undefined || s.tlsKey === undefined ? undefined : { cert: s.tlsCert, key: s.tlsKey, clientCa: s.tlsClientCa };
  }
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
