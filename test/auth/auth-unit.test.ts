import { describe, expect, it } from 'vitest';
import { AuthFileError, parseAuthFile } from '../../src/auth/auth-file.ts';
import { TenantSlots } from '../../src/auth/auth-table.ts';
import { isLoopback } from '../../src/auth/auth-supervisor.ts';
import { parseAuthorization } from '../../src/auth/authorization-header.ts';
import { ANYONE, clientIdAuthenticator, isRefusal, tokenAuthenticator, UNAUTHORIZED_MESSAGE } from '../../src/auth/authenticator.ts';
import { createRateLimitStorage, RateLimiter } from '../../src/auth/rate-limiter.ts';
import { createTenantMetricsStorage, readTenantMetrics, TenantMetrics } from '../../src/auth/tenant-metrics.ts';
import { hashToken, isTokenHash } from '../../src/auth/token-hash.ts';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

function authFile(extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    tenants: {
      acme: { tokens: [hashToken('acme-token')], certSubjects: ['CN=acme-agent'], limits: { samplesPerSecond: 10 } },
      globex: { tokens: [hashToken('globex-token-1'), hashToken('globex-token-2')] },
    },
    defaults: { limits: { samplesPerSecond: 100, bytesPerSecond: 1000, burstSeconds: 2 } },
    ...extra,
  });
}

describe('Authorization header', () => {
  it('reads Bearer, Basic (user ends at the first colon) and raw values', () => {
    expect(parseAuthorization('Bearer abc')).toEqual({ scheme: 'bearer', secret: 'abc' });
    expect(parseAuthorization('bearer   abc ')).toEqual({ scheme: 'bearer', secret: 'abc' });
    expect(parseAuthorization(basic('u', 'p:w'))).toEqual({ scheme: 'basic', user: 'u', secret: 'p:w' });
    expect(parseAuthorization('test_client')).toEqual({ scheme: 'raw', secret: 'test_client' });
    expect(parseAuthorization('Basic !!!')).toBeUndefined();
    expect(parseAuthorization('Basic ' + Buffer.from('nocolon').toString('base64'))).toBeUndefined();
    expect(parseAuthorization('   ')).toBeUndefined();
    expect(parseAuthorization('Bearer ')).toBeUndefined();
  });

  it('reads Token (InfluxDB 2) as bearer', () => {
    expect(parseAuthorization('Token abc')).toEqual({ scheme: 'bearer', secret: 'abc' });
  });

  it('client-id mode checks nothing and leaves the key to the protocol', () => {
    expect(clientIdAuthenticator().authenticate('Bearer host-7')).toBe(ANYONE);
    expect(clientIdAuthenticator().authenticate(undefined)).toBe(ANYONE);
  });
});

describe('auth file', () => {
  it('validates and applies defaults under per-tenant overrides', () => {
    const file = parseAuthFile(authFile());
    expect(file.get('acme')!.limits).toEqual({ samplesPerSecond: 10, bytesPerSecond: 1000, burstSeconds: 2 });
    expect(file.get('globex')!.limits).toEqual({ samplesPerSecond: 100, bytesPerSecond: 1000, burstSeconds: 2 });
    expect(file.get('globex')!.tokens).toHaveLength(2);
  });

  it.each([
    ['not json', '{'],
    ['no tenants', '{}'],
    ['a raw token', JSON.stringify({ tenants: { a: { tokens: ['plaintext'] } } })],
    ['upper-case hex', JSON.stringify({ tenants: { a: { tokens: [hashToken('x').toUpperCase().replace('SHA256', 'sha256')] } } })],
    ['a bad tenant id', JSON.stringify({ tenants: { 'a b': { tokens: [] } } })],
    ['one token for two tenants', JSON.stringify({ tenants: { a: { tokens: [hashToken('x')] }, b: { tokens: [hashToken('x')] } } })],
    ['a negative limit', JSON.stringify({ tenants: { a: { limits: { samplesPerSecond: -1 } } } })],
    ['an unknown limit', JSON.stringify({ tenants: { a: { limits: { requestsPerSecond: 1 } } } })],
    ['an unknown key', JSON.stringify({ tenants: { a: { token: [] } } })],
    ['a bad subject', JSON.stringify({ tenants: { a: { certSubjects: ['acme'] } } })],
  ])('refuses %s', (_, text) => {
    expect(() => parseAuthFile(text)).toThrow(AuthFileError);
  });

  it('hash-token entries are sha256:<hex>', () => {
    expect(hashToken('abc')).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(isTokenHash(hashToken('abc'))).toBe(true);
  });
});

describe('tenant slots and the token authenticator', () => {
  it('maps tokens (Bearer and Basic password) and certificate subjects to tenants, one answer for missing and unknown', () => {
    const slots = new TenantSlots(8);
    const auth = tokenAuthenticator(slots.table(parseAuthFile(authFile())));
    const unauthorized = { status: 401, message: UNAUTHORIZED_MESSAGE, challenge: true };
    expect(auth.authenticate('Bearer acme-token')).toEqual({ tenant: 'acme', key: Buffer.from('acme'), slot: 0 });
    expect(auth.authenticate(basic('anyone', 'globex-token-2'))).toMatchObject({ tenant: 'globex', slot: 1 });
    expect(auth.authenticate(basic('', 'globex-token-2'))).toMatchObject({ tenant: 'globex', slot: 1 });
    expect(auth.authenticate('Bearer nope')).toEqual(unauthorized);
    expect(auth.authenticate(undefined)).toEqual(unauthorized);
    expect(auth.authenticate('acme-token')).toEqual(unauthorized); // a raw value is not a credential
    expect(auth.authenticate('Token globex-token-1')).toMatchObject({ tenant: 'globex', slot: 1 });
    expect(auth.authenticate(undefined, 'acme-token')).toMatchObject({ tenant: 'acme', slot: 0 }); // Influx 1.x ?p=
    expect(auth.authenticate(undefined, 'wrong')).toEqual(unauthorized);
    expect(auth.authenticate(undefined, undefined, 'CN=acme-agent')).toMatchObject({ tenant: 'acme', slot: 0 });
    expect(auth.authenticate(undefined, undefined, 'CN=stranger')).toEqual(unauthorized);
    expect(auth.authenticate('Bearer globex-token-1', undefined, 'CN=acme-agent')).toMatchObject({ tenant: 'globex' }); // the header decides
  });

  it('keeps slots across reloads, never reuses a removed tenant slot, refuses past capacity', () => {
    const slots = new TenantSlots(3);
    slots.table(parseAuthFile(authFile()));
    const next = slots.table(parseAuthFile(JSON.stringify({ tenants: { globex: { tokens: [hashToken('g3')] }, initech: { tokens: [hashToken('i')] } } })));
    expect(next.tenants.map((t) => t?.id ?? null)).toEqual([null, 'globex', 'initech']);
    const auth = tokenAuthenticator(next);
    expect(isRefusal(auth.authenticate('Bearer acme-token'))).toBe(true);
    expect(auth.authenticate('Bearer g3')).toMatchObject({ tenant: 'globex', slot: 1 });
    expect(() => slots.table(parseAuthFile(JSON.stringify({ tenants: { d: {} } })))).toThrow(/do not fit/);
    expect(slots.names).toEqual(['acme', 'globex', 'initech']);
  });
});

describe('rate limiter (GCRA in shared memory)', () => {
  const limits = { samplesPerSecond: 10, bytesPerSecond: 0, burstSeconds: 1 };

  it('admits a burst, refuses past it with the wait, refills with time, and isolates tenants', () => {
    let now = 1_000_000_000n;
    const limiter = new RateLimiter(createRateLimitStorage(2), () => now);
    for (let i = 0; i < 10; i++) expect(limiter.take(0, limits, 1, 0)).toBe(0);
    expect(limiter.take(0, limits, 1, 0)).toBe(100);
    expect(limiter.blocked(0, limits)).toBe(0); // at the edge, not beyond
    expect(limiter.take(1, limits, 10, 0)).toBe(0); // another tenant is unaffected
    now += 100_000_000n;
    expect(limiter.take(0, limits, 1, 0)).toBe(0);
    now += 10_000_000_000n;
    expect(limiter.take(0, limits, 10, 0)).toBe(0);
  });

  it('admits an oversized request only into a full bucket, and then blocks until paid back', () => {
    let now = 5_000_000_000n;
    const limiter = new RateLimiter(createRateLimitStorage(1), () => now);
    expect(limiter.take(0, limits, 30, 0)).toBe(0);
    expect(limiter.blocked(0, limits)).toBe(2000);
    expect(limiter.take(0, limits, 1, 0)).toBe(2100);
    now += 2_100_000_000n;
    expect(limiter.take(0, limits, 1, 0)).toBe(0);
  });

  it('refunds the samples when the bytes bucket refuses', () => {
    const now = 1_000_000_000n;
    const limiter = new RateLimiter(createRateLimitStorage(1), () => now);
    const both = { samplesPerSecond: 10, bytesPerSecond: 100, burstSeconds: 1 };
    expect(limiter.take(0, both, 5, 100)).toBe(0);
    expect(limiter.take(0, both, 5, 100)).toBeGreaterThan(0);
    expect(limiter.take(0, both, 5, 0)).toBe(0); // the refused request's samples were given back
  });

  it('unlimited buckets never refuse', () => {
    const limiter = new RateLimiter(createRateLimitStorage(1));
    for (let i = 0; i < 100; i++) expect(limiter.take(0, { samplesPerSecond: 0, bytesPerSecond: 0, burstSeconds: 1 }, 1e9, 1e9)).toBe(0);
  });
});

describe('tenant metrics', () => {
  it('counts outcomes per tenant and sums over workers', () => {
    const a = createTenantMetricsStorage(4);
    const b = createTenantMetricsStorage(4);
    new TenantMetrics(a).answered(1, 200, 5, 100);
    new TenantMetrics(b).answered(1, 429, 7, 50);
    new TenantMetrics(b).answered(1, 400, 0, 0);
    new TenantMetrics(b).answered(-1, 200, 5, 5);
    const s = readTenantMetrics([a, b], 1);
    expect(Object.fromEntries(s.requests)).toMatchObject({ accepted: 1, throttled: 1, bad_request: 1 });
    expect(s).toMatchObject({ samplesAccepted: 5, samplesThrottled: 7, bytesAccepted: 100 });
  });
});

describe('the client-id warning', () => {
  it('counts only loopback addresses as private', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com']) expect(isLoopback(h), h).toBe(false);
  });
});
