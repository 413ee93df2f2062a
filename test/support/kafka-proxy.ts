/**
 * A Kafka-aware TCP proxy in front of a set of brokers, for dev and tests:
 *
 * - One listener per upstream broker. Metadata and FindCoordinator responses are rewritten
 *   so that clients only ever learn proxy addresses: every connection of every client
 *   (kafkajs, kcat) goes through the proxy, which is what lets a test cut the cluster off
 *   and bring it back at the same addresses (librdkafka's mock cluster cannot be restarted
 *   on the same ports, and a restarted one would be empty).
 * - Fault injection: `cut('refuse')` closes the listeners and resets every connection
 *   (a dead broker: ECONNREFUSED); `cut('blackhole')` keeps accepting but forwards nothing
 *   (a network partition: requests time out); `cut('deaf')` forwards requests but drops
 *   every response (the broker writes, its answers are lost: the case where a timeout
 *   does not mean "not stored"); `restore()` undoes any of them.
 * - Latency: `latencyMs` (option or `setLatency`) holds every frame that long in each
 *   direction, in order, so a request-response round trip takes at least twice that: a
 *   broker "1 ms away" is `latencyMs: 1`. Frames are delayed whole (the proxy forwards
 *   frames, not bytes), with no bandwidth limit; timers have 1 ms granularity, so a frame
 *   waits between latencyMs and about latencyMs + 1 ms (`delayStats()` says how long).
 * - librdkafka 2.0's mock cluster answers Metadata with ControllerId 0, a broker that does
 *   not exist; kafkajs sends InitProducerId to the controller, so an idempotent producer
 *   cannot start against the bare mock. The proxy replaces a controller id that names no
 *   broker with the lowest broker id. A real cluster always names a live controller, so
 *   this never changes a real broker's answer.
 *
 * Only non-flexible versions are rewritten (Metadata v0-8, FindCoordinator v0-2: the mock
 * speaks Metadata <= v2 and FindCoordinator <= v2); newer versions pass through unchanged,
 * which would leak the upstream addresses (logged once through `onWarning`).
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** An upstream broker address. */
export interface BrokerAddress {
  host: string;
  port: number;
}

/** How `cut()` breaks the path to the brokers. */
export type CutMode = 'refuse' | 'blackhole' | 'deaf';

const API_METADATA = 3;
const API_FIND_COORDINATOR = 10;
const MAX_FRAME = 256 * 1024 * 1024;

interface Route {
  upstream: BrokerAddress;
  /** The proxy's listening port for this upstream; stable across cut/restore. */
  port: number;
  server: net.Server | null;
}

/**
 * Splits a byte stream into Kafka frames (int32 size prefix). Keeps chunks in a list so a
 * large produce request is copied once, when complete, not once per arriving chunk.
 */
class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Adds bytes; returns every frame (size prefix included) completed by them. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.chunks[0].length >= 4 ? this.chunks[0] : this.flatten();
      const size = head.readInt32BE(0);
      if (size < 0 || size > MAX_FRAME) throw new Error(`bad Kafka frame size ${size}`);
      if (this.buffered < size + 4) break;
      const all = this.flatten();
      frames.push(all.subarray(0, size + 4));
      const rest = all.subarray(size + 4);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }

  private flatten(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0];
  }
}

/** How long frames actually waited in the delay lines (one direction counts once). */
export interface DelayStats {
  frames: number;
  meanMs: number;
  maxMs: number;
}

/**
 * One direction of one connection with a propagation delay: frames come out in arrival
 * order, each no earlier than `delayMs` after it went in. One timer per line, armed for
 * the oldest frame, so a burst of frames costs one timer, not one each.
 */
class DelayLine {
  private queue: { due: number; at: number; frame: Buffer }[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  private readonly delayMs: number;
  private readonly deliver: (frame: Buffer) => void;
  private readonly stats: { frames: number; totalMs: number; maxMs: number };

  constructor(delayMs: number, deliver: (frame: Buffer) => void, stats: { frames: number; totalMs: number; maxMs: number }) {
    this.delayMs = delayMs;
    this.deliver = deliver;
    this.stats = stats;
  }

  push(frame: Buffer): void {
    const at = performance.now();
    this.queue.push({ due: at + this.delayMs, at, frame });
    if (this.timer === null) this.arm();
  }

  /** Drops what is still queued (the connection is gone). */
  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.head = 0;
  }

  private arm(): void {
    this.timer = setTimeout(() => this.flush(), Math.max(1, this.queue[this.head].due - performance.now()));
  }

  private flush(): void {
    this.timer = null;
    const now = performance.now();
    while (this.head < this.queue.length && this.queue[this.head].due <= now) {
      const { at, frame } = this.queue[this.head++];
      const waited = now - at;
      this.stats.frames++;
      this.stats.totalMs += waited;
      if (waited > this.stats.maxMs) this.stats.maxMs = waited;
      this.deliver(frame);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else {
      this.arm();
    }
  }
}

/** Cursor over a response body, for the few fields the proxy rewrites. */
class Cursor {
  pos: number;
  readonly buf: Buffer;
  constructor(buf: Buffer, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** Reads a (nullable) int16-length string. */
  str(): string | null {
    const len = this.i16();
    if (len < 0) return null;
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
}

function writeStr(parts: Buffer[], s: string | null): void {
  const len = Buffer.alloc(2);
  if (s === null) {
    len.writeInt16BE(-1);
    parts.push(len);
    return;
  }
  const bytes = Buffer.from(s, 'utf8');
  len.writeInt16BE(bytes.length);
  parts.push(len, bytes);
}

function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

function i16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}

/**
 * The fault-injecting, address-rewriting proxy. Create with `KafkaProxy.start(upstreams)`.
 * `bootstrap` lists the proxy's addresses in upstream order.
 */
export class KafkaProxy {
  readonly host: string;
  private readonly routes: Route[];
  private readonly byUpstream = new Map<string, Route>();
  private readonly sockets = new Set<net.Socket>();
  private mode: CutMode | null = null;
  private closed = false;
  private warned = false;
  private readonly onWarning: (msg: string) => void;
  private latencyMs = 0;
  private readonly delays = { frames: 0, totalMs: 0, maxMs: 0 };

  private constructor(host: string, upstreams: BrokerAddress[], onWarning: (msg: string) => void) {
    this.host = host;
    this.onWarning = onWarning;
    this.routes = upstreams.map((upstream) => ({ upstream, port: 0, server: null }));
    for (const r of this.routes) this.byUpstream.set(`${r.upstream.host}:${r.upstream.port}`, r);
  }

  /**
   * Starts one listener per upstream broker on `host` (default 127.0.0.1): on `ports[i]`
   * for upstream i when given (so a restarted proxy comes back at the same addresses),
   * else on a random free port. `latencyMs`: see setLatency.
   */
  static async start(
    upstreams: BrokerAddress[],
    opts: { host?: string; ports?: number[]; latencyMs?: number; onWarning?: (msg: string) => void } = {},
  ): Promise<KafkaProxy> {
    const proxy = new KafkaProxy(opts.host ?? '127.0.0.1', upstreams, opts.onWarning ?? (() => {}));
    proxy.setLatency(opts.latencyMs ?? 0);
    proxy.routes.forEach((r, i) => (r.port = opts.ports?.[i] ?? 0));
    try {
      for (const r of proxy.routes) await proxy.listen(r);
    } catch (e) {
      await proxy.close();
      throw e;
    }
    return proxy;
  }

  /** Comma-separated proxy addresses, one per upstream broker. */
  get bootstrap(): string {
    return this.routes.map((r) => `${this.host}:${r.port}`).join(',');
  }

  /**
   * Holds every frame `ms` milliseconds in each direction (0: forward at once), for
   * connections opened from now on: a broker `ms` away, a round trip of at least 2 × ms.
   */
  setLatency(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new Error(`latency must be a number of ms >= 0, not ${ms}`);
    this.latencyMs = ms;
  }

  /** How long delayed frames actually waited, both directions, since the start. */
  delayStats(): DelayStats {
    const d = this.delays;
    return { frames: d.frames, meanMs: d.frames > 0 ? d.totalMs / d.frames : 0, maxMs: d.maxMs };
  }

  /** Whether the proxy is currently cut, and how. */
  get cutMode(): CutMode | null {
    return this.mode;
  }

  /**
   * Breaks every path to the brokers. 'refuse': listeners closed, connections reset.
   * 'blackhole': connections stay open but bytes vanish in both directions, and new
   * connections are accepted and then ignored. 'deaf': requests still reach the brokers
   * (new connections too), responses are dropped.
   */
  async cut(mode: CutMode = 'refuse'): Promise<void> {
    this.mode = mode;
    if (mode === 'refuse') {
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      await Promise.all(this.routes.map((r) => this.unlisten(r)));
    }
  }

  /** Ends a cut: listeners are back on the same ports; blackholed connections are reset. */
  async restore(): Promise<void> {
    const was = this.mode;
    this.mode = null;
    if (was === 'blackhole' || was === 'deaf') {
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
    }
    for (const r of this.routes) if (!r.server) await this.listen(r);
  }

  /** Closes listeners and every connection. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all(this.routes.map((r) => this.unlisten(r)));
  }

  private listen(route: Route): Promise<void> {
    const server = net.createServer((client) => this.accept(route, client));
    route.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(route.port, this.host, () => {
        server.off('error', reject);
        route.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  private unlisten(route: Route): Promise<void> {
    const server = route.server;
    route.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private accept(route: Route, client: net.Socket): void {
    client.setNoDelay(true);
    this.track(client);
    client.on('error', () => client.destroy());
    if (this.closed || this.mode === 'refuse') {
      client.destroy();
      return;
    }
    if (this.mode === 'blackhole') {
      client.resume(); // swallow whatever the client sends, answer nothing
      return;
    }
    const upstream = net.connect(route.upstream.port, route.upstream.host);
    upstream.setNoDelay(true);
    this.track(upstream);
    // Each direction goes through a delay line when latency is on; writes check the
    // socket is still open because a delayed frame may come due after a cut or a kill.
    const toBroker = this.latencyMs > 0 ? new DelayLine(this.latencyMs, (f) => upstream.destroyed || upstream.write(f), this.delays) : null;
    const toClient =
      this.latencyMs > 0
        ? new DelayLine(this.latencyMs, (f) => this.mode === 'blackhole' || this.mode === 'deaf' || client.destroyed || client.write(f), this.delays)
        : null;
    const kill = (): void => {
      toBroker?.clear();
      toClient?.clear();
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', kill);
    upstream.on('close', kill);
    client.on('close', kill);

    // correlation id -> [apiKey, apiVersion] of requests whose responses get rewritten
    const pending = new Map<number, [number, number]>();
    const fromClient = new FrameReader();
    const fromBroker = new FrameReader();

    client.on('data', (chunk: Buffer) => {
      if (this.mode === 'blackhole') return;
      let frames: Buffer[];
      try {
        frames = fromClient.push(chunk);
      } catch {
        kill();
        return;
      }
      for (const f of frames) {
        if (f.length >= 12) {
          const apiKey = f.readInt16BE(4);
          if (apiKey === API_METADATA || apiKey === API_FIND_COORDINATOR) {
            pending.set(f.readInt32BE(8), [apiKey, f.readInt16BE(6)]);
          }
        }
        if (toBroker) toBroker.push(f);
        else upstream.write(f);
      }
    });

    upstream.on('data', (chunk: Buffer) => {
      // deaf: the connection is reset at restore, so a half-read frame never matters
      if (this.mode === 'blackhole' || this.mode === 'deaf') return;
      let frames: Buffer[];
      try {
        frames = fromBroker.push(chunk);
      } catch {
        kill();
        return;
      }
      for (const f of frames) {
        const corr = f.length >= 8 ? f.readInt32BE(4) : -1;
        const req = pending.get(corr);
        if (req) pending.delete(corr);
        const out = req ? this.rewrite(f, req[0], req[1]) : f;
        if (toClient) toClient.push(out);
        else client.write(out);
      }
    });
  }

  /** Returns the response frame with broker addresses (and a bogus controller id) replaced. */
  private rewrite(frame: Buffer, apiKey: number, version: number): Buffer {
    try {
      if (apiKey === API_METADATA && version <= 8) return this.rewriteMetadata(frame, version);
      if (apiKey === API_FIND_COORDINATOR && version <= 2) return this.rewriteCoordinator(frame, version);
    } catch (e) {
      this.warnOnce(`could not rewrite response (api ${apiKey} v${version}): ${(e as Error).message}`);
      return frame;
    }
    this.warnOnce(`api ${apiKey} v${version} is not rewritten: clients may bypass the proxy`);
    return frame;
  }

  private warnOnce(msg: string): void {
    if (this.warned) return;
    this.warned = true;
    this.onWarning(msg);
  }

  private mapAddress(host: string, port: number): [string, number] {
    const r = this.byUpstream.get(`${host}:${port}`);
    return r ? [this.host, r.port] : [host, port];
  }

  private rewriteMetadata(frame: Buffer, version: number): Buffer {
    const c = new Cursor(frame, 8);
    const parts: Buffer[] = [frame.subarray(4, 8)]; // correlation id
    if (version >= 3) parts.push(i32(c.i32())); // throttle_time_ms
    const count = c.i32();
    parts.push(i32(count));
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const nodeId = c.i32();
      const [host, port] = this.mapAddress(c.str() ?? '', c.i32());
      ids.push(nodeId);
      parts.push(i32(nodeId));
      writeStr(parts, host);
      parts.push(i32(port));
      if (version >= 1) writeStr(parts, c.str()); // rack
    }
    if (version >= 2) writeStr(parts, c.str()); // cluster_id
    if (version >= 1) {
      let controller = c.i32();
      if (ids.length > 0 && !ids.includes(controller)) controller = Math.min(...ids);
      parts.push(i32(controller));
    }
    parts.push(frame.subarray(c.pos));
    return this.frameOf(parts);
  }

  private rewriteCoordinator(frame: Buffer, version: number): Buffer {
    const c = new Cursor(frame, 8);
    const parts: Buffer[] = [frame.subarray(4, 8)];
    if (version >= 1) parts.push(i32(c.i32())); // throttle_time_ms
    parts.push(i16(c.i16())); // error_code
    if (version >= 1) writeStr(parts, c.str()); // error_message
    parts.push(i32(c.i32())); // node_id
    const host = c.str();
    const port = c.i32();
    const [h, p] = host === null ? [null, port] : this.mapAddress(host, port);
    writeStr(parts, h);
    parts.push(i32(p));
    parts.push(frame.subarray(c.pos));
    return this.frameOf(parts);
  }

  private frameOf(parts: Buffer[]): Buffer {
    let size = 0;
    for (const p of parts) size += p.length;
    return Buffer.concat([i32(size), ...parts], size + 4);
  }
}
