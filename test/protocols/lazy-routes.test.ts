/**
 * The worker's lazily loaded routes (src/protocols/index.ts) serve exactly the paths the
 * protocol modules claim, each by the protocol that claims it, and 404 (undefined) others.
 */
import { describe, expect, it } from 'vitest';
import { createProtocols, LAZY, ProtocolRoutes, routeTable } from '../../src/protocols/index.ts';

const options = { valueFormat: 'msgpack', maxDecodedBody: 1 << 20 } as const;

describe('ProtocolRoutes (protocols loaded on first use)', () => {
  it('routes every path of createProtocols to the protocol of the same name, and nothing else', async () => {
    const eager = routeTable(createProtocols(options));
    const lazyPaths = LAZY.flatMap((e) => e.paths);
    expect(new Set(lazyPaths).size).toBe(lazyPaths.length);
    const routes = new ProtocolRoutes(options);
    expect(routes.get('/metrics')).not.toBeInstanceOf(Promise); // the seed protocol is there at once
    expect([...eager.keys()].sort()).toEqual(['/metrics', ...lazyPaths].sort());
    for (const [path, p] of eager) {
      const got = await routes.get(path);
      expect(got?.name, path).toBe(p.name);
      expect(routes.get(path), `${path} is loaded now`).toBe(got);
    }
    expect(routes.get('/nope')).toBeUndefined();
  });

  it('loads a module once for concurrent first requests', async () => {
    const routes = new ProtocolRoutes(options);
    const [a, b, c] = await Promise.all([routes.get('/write'), routes.get('/write'), routes.get('/api/v2/write')]);
    expect(a).toBe(b);
    expect(c?.name).toBe('influx-v2');
  });
});
