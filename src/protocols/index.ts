/**
 * Every wire protocol the workers serve, by path. A new protocol module is added here
 * (one line) and nowhere else in the worker.
 */
import type { Protocol, ProtocolOptions } from './protocol.ts';
import { createInfluxProtocols } from './influx.ts';
import { createOtlpProtocol } from './otlp.ts';
import { createRemoteWriteProtocol } from './remote-write.ts';
import { createSeedProtocol } from './seed-json.ts';

/** The protocols, constructed once per worker with the gateway's limits. */
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
