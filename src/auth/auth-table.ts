/**
 * The table every worker authenticates with, built by the supervisor from a validated
 * auth file and posted to each worker (at start and after each SIGHUP reload). Each
 * tenant has a slot: its index in the shared rate-limit buckets and per-tenant counters.
 * A tenant keeps its slot across reloads (its bucket and counters go on), a new tenant
 * takes a fresh one, and a removed tenant's slot is never reused, so a counter never
 * changes hands. The slot count is fixed at start: it bounds the memory and the
 * cardinality of the per-tenant metrics.
 */
import type { AuthFile, TenantLimits } from './auth-file.ts';

export interface TenantEntry {
  id: string;
  limits: TenantLimits;
}

/** Plain data (structured-clonable): what a worker needs to authenticate and limit. */
export interface AuthTable {
  /** Tenant by slot; null where a tenant was removed by a reload. */
  tenants: (TenantEntry | null)[];
  /** `sha256:<hex>` -> slot. */
  tokens: Map<string, number>;
  /** `CN=<common name>` -> slot. */
  subjects: Map<string, number>;
}

/** The supervisor's slot assignment, stable across reloads. */
export class TenantSlots {
  readonly capacity: number;
  readonly #slots = new Map<string, number>();
  readonly #names: string[] = [];

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Tenant id of every slot ever assigned (index = slot), for the per-tenant metrics. */
  get names(): readonly string[] {
    return this.#names;
  }

  /**
   * Builds the table for `file`, assigning slots to new tenants. Throws (and assigns
   * nothing) when the new tenants would not fit.
   */
  table(file: AuthFile): AuthTable {
    const fresh = [...file.keys()].filter((id) => !this.#slots.has(id));
    if (this.#names.length + fresh.length > this.capacity) {
      throw new Error(`${fresh.length} new tenant(s) do not fit: ${this.capacity} tenant slots per run, ${this.#names.length} used (restart to reset)`);
    }
    for (const id of fresh) {
      this.#slots.set(id, this.#names.length);
      this.#names.push(id);
    }
    const tenants: (TenantEntry | null)[] = this.#names.map(() => null);
    const tokens = new Map<string, number>();
    const subjects = new Map<string, number>();
    for (const [id, spec] of file) {
      const slot = this.#slots.get(id)!;
      tenants[slot] = { id, limits: spec.limits };
      for (const t of spec.tokens) tokens.set(t, slot);
      for (const s of spec.certSubjects) subjects.set(s, slot);
    }
    return { tenants, tokens, subjects };
  }
}
