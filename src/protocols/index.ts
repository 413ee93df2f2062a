/**
 * Every wire protocol the workers serve, by path. A new protocol module is added here
 * (one line in createProtocols and one entry in LAZY) and nowhere else in the worker.
 */
import type { Protocol, ProtocolOptions } from './protocol.ts';
import { createInfluxProtocols } from './influx.ts';
import { createOtlpProtocol } from './otlp.ts';
import { createRemoteWriteProtocol } from './remote-write.ts';
import { createSeedProtocol } from './seed-json.ts';

/** The protocols, constructed once with the gateway's limits (all loaded at once). */
export function createProtocols(options: ProtocolOptions): Protocol[] {
  return [createSeedProtocol(options), createRemoteWriteProtocol(options), ...createInfluxProtocols(options), createOtlpProtocol(options)] as Protocol[];
}

/** Path -> protocol; throws when two protocols claim one path (a programming error). */
export function routeTable(protocols: Protocol[]): Map<string, Protocol> {
  const routes = new Map<string, Protocol>();
  for (const p of protocols) {
    for (const path of p.paths) {
      if (routes.has(path)) throw new Error(`protocols ${routes.get(path)!.name} and ${p.name} both claim ${path}`);
      routes.set(path, p);
    }
  }
  return routes;
}

/**
 * The protocols other than the seed one, by the paths they serve, loaded on their first
 * request. Each module graph (decoders, protobuf tables, snappy) costs a few MB per
 * worker thread; with 16 workers a gateway that only ever sees one protocol would carry
 * the others' 16 times over (issue 15, memory). The paths are repeated here so that
 * routing needs no module; test/protocols/lazy-routes.test.ts checks they match.
 */
export const LAZY: readonly { paths: readonly string[]; load(options: ProtocolOptions): Promise<Protocol[]> }[] = [
  { paths: ['/api/v1/write'], load: async (o) => [(await import('./remote-write.ts')).createRemoteWriteProtocol(o) as Protocol] },
  { paths: ['/write', '/api/v2/write'], load: async (o) => (await import('./influx.ts')).createInfluxProtocols(o) as Protocol[] },
  { paths: ['/v1/metrics'], load: async (o) => [(await import('./otlp.ts')).createOtlpProtocol(o) as Protocol] },
];

/**
 * The worker's routes: the seed protocol at once, the others on first use. `get` returns
 * the protocol, a promise of it while its module loads, or undefined (no route).
 */
export class ProtocolRoutes {
  private readonly routes: Map<string, Protocol>;
  /** One load per LAZY entry; a failed load stays failed (a programming error: 500s). */
  private readonly loading = new Map<(typeof LAZY)[number], Promise<void>>();

  private readonly options: ProtocolOptions;

  constructor(options: ProtocolOptions) {
    this.options = options;
    this.routes = routeTable([createSeedProtocol(options) as Protocol]);
  }

  /** The protocol serving `path`, a promise of it while its module loads, or undefined. */
  get(path: string): Protocol | Promise<Protocol> | undefined {
    const loaded = this.routes.get(path);
    if (loaded !== undefined) return loaded;
    const entry = LAZY.find((e) => e.paths.includes(path));
    if (entry === undefined) return undefined;
    let loading = this.loading.get(entry);
    if (loading === undefined) {
      loading = entry.load(this.options).then((protocols) => {
        for (const p of protocols) for (const claimed of p.paths) this.routes.set(claimed, p);
      });
      this.loading.set(entry, loading);
    }
    return loading.then(() => {
      const p = this.routes.get(path);
      if (p === undefined) throw new Error(`the protocol module loaded for ${path} does not claim it (fix LAZY in src/protocols/index.ts)`);
      return p;
    });
  }
}
