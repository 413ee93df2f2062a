/**
 * The seed body rules against hostile bodies, without HTTP: every one of these either
 * parses or throws BadRequest (the worker's 400); none throws anything else.
 */
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { BadRequest, parseMetricsBody } from '../../src/workers/metrics-body.ts';

const json = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const plain = new Packr({ useRecords: false, variableMapSize: true });

function refused(body: Buffer, format: 'json' | 'msgpack' = 'json'): string {
  try {
    parseMetricsBody(body, format, 'msgpack');
  } catch (e) {
    expect(e).toBeInstanceOf(BadRequest);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('bodies that used to kill a worker', () => {
  it('an extra field nested 200,000 levels deep is refused by name, not thrown from the encoder', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(refused(json(`{"metrics":[{"name":"a","value":1}],"x":${deep}}`))).toBe('unknown field "x": the body has only "metrics"');
    expect(refused(json(`{"metrics":[{"name":"a","value":1,"extra":${deep}}]}`))).toMatch(/^metrics\[0\] has unknown field "extra"/);
    expect(refused(json(`{"metrics":[{"name":"a","value":1,"tags":{"t":${deep}}}]}`))).toBe('metrics[0].tags.t must be a string');
  });

  it('an object of 65,536 tags is stored (msgpack map32), not thrown from the encoder', () => {
    const tags: Record<string, string> = {};
    for (let i = 0; i < 65_536; i++) tags[`k${i}`] = 'v';
    const parsed = parseMetricsBody(json({ metrics: [{ name: 'a', value: 1, tags }] }), 'json', 'msgpack');
    const back = new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(parsed.value) as { metrics: { tags: object }[] };
    expect(Object.keys(back.metrics[0].tags)).toHaveLength(65_536);
  });
});

describe('msgpack: plain MessagePack only', () => {
  const good = { metrics: [{ name: 'a', value: 1, tags: { h: 'x' } }] };

  it('accepts plain msgpack and stores it as sent', () => {
    const body = plain.pack(good);
    expect(parseMetricsBody(body, 'msgpack', 'msgpack')).toMatchObject({ count: 1, value: body });
  });

  it("refuses msgpackr's record structures, pointers, timestamps, sets, regexps and any ext type", () => {
    const records = new Packr({ useRecords: true }).pack(good);
    expect(refused(records, 'msgpack')).toMatch(/extension type at byte/);
    const shared = { h: 'x' };
    const pointers = new Packr({ structuredClone: true, useRecords: false }).pack({ metrics: [{ name: 'a', value: 1, tags: shared }, { name: 'b', value: 2, tags: shared }] });
    expect(refused(pointers, 'msgpack')).toMatch(/extension type/);
    for (const odd of [new Date(1_700_000_000_000), new Set(['a']), /re/]) {
      const body = new Packr({ useRecords: false, moreTypes: true } as object).pack({ metrics: [{ name: 'a', value: 1, tags: { h: odd } }] });
      expect(refused(body, 'msgpack')).toMatch(/extension type/);
    }
    // fixext 1 with an application type, and ext 8.
    expect(refused(Buffer.from([0x81, 0xa1, 0x6d, 0xd4, 0x01, 0x00]), 'msgpack')).toBe('body is not plain msgpack: MessagePack extension type at byte 3: only plain MessagePack is accepted (no ext types)');
    expect(refused(Buffer.from([0xc7, 0x01, 0x05, 0x00]), 'msgpack')).toMatch(/extension type at byte 0/);
  });

  it('the pointer-amplification body (N pointers to one object of K tags) is refused at once', () => {
    const tags: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) tags[`t${i}`] = 'v';
    const metric = { name: 'a', value: 1, tags };
    const body = new Packr({ structuredClone: true, useRecords: false }).pack({ metrics: new Array(20_000).fill(metric) });
    // 40 million tag values behind a body of well under 200 KB.
    expect(body.length).toBeLessThan(200_000);
    expect(refused(body, 'msgpack')).toMatch(/extension type/);
  });

  it('validates every value: non-string keys, invalid UTF-8, truncation, trailing bytes, depth, 0xc1', () => {
    expect(refused(Buffer.from([0x81, 0x01, 0x02]), 'msgpack')).toBe('body is not plain msgpack: map key at byte 1 is not a string');
    expect(refused(Buffer.from([0xa2, 0xc3, 0x28]), 'msgpack')).toBe('body is not plain msgpack: string at byte 0 is not valid UTF-8');
    expect(refused(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), 'msgpack')).toBe('body is not plain msgpack: msgpack body truncated at byte 0');
    expect(refused(Buffer.from([0xc0, 0xc0]), 'msgpack')).toBe('body is not plain msgpack: 1 byte(s) after the msgpack value, at byte 1');
    expect(refused(Buffer.from([0xc1]), 'msgpack')).toMatch(/0xc1 at 0/);
    expect(refused(Buffer.from([...Array(40).fill(0x91), 0xc0]), 'msgpack')).toMatch(/nested deeper than 16 levels/);
    expect(refused(plain.pack({ metrics: [{ name: 'a', value: 1, tags: { h: 5 } }] }), 'msgpack')).toBe('metrics[0].tags.h must be a string');
    expect(refused(plain.pack({ metrics: [{ name: 'a', value: 1, tags: { h: Buffer.from('x') } }] }), 'msgpack')).toBe('metrics[0].tags.h must be a string');
    expect(refused(Buffer.from([]), 'msgpack')).toBe('body is not plain msgpack: msgpack body truncated at byte 0');
  });
});

describe('text and time', () => {
  it('refuses invalid UTF-8 in JSON naming the byte offset', () => {
    const body = Buffer.concat([Buffer.from('{"metrics":[{"name":"caf'), Buffer.from([0xe9]), Buffer.from('","value":1}]}')]);
    expect(refused(body)).toBe('body is not valid UTF-8: invalid byte sequence at byte 24');
  });

  it('accepts a UTF-8 BOM and does not store it', () => {
    const text = '{"metrics":[{"name":"a","value":1}]}';
    const parsed = parseMetricsBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), 'json', 'json');
    expect(Buffer.from(parsed.value).toString()).toBe(text);
  });

  it('refuses timestamps in seconds (and in micro/nanoseconds) naming the field', () => {
    expect(refused(json({ metrics: [{ name: 'a', value: 1 }, { name: 'b', value: 1, timestamp: 1_700_000_000 }] }))).toBe(
      'metrics[1].timestamp 1700000000 looks like seconds: send milliseconds since the epoch',
    );
    expect(refused(json({ metrics: [{ name: 'a', value: 1, timestamp: 1.7e18 }] }))).toMatch(/^metrics\[0\]\.timestamp .* looks like micro- or nanoseconds/);
    expect(parseMetricsBody(json({ metrics: [{ name: 'a', value: 1, timestamp: 1_700_000_000_000.5 }] }), 'json', 'json').count).toBe(1);
  });

  it('accepts the shared record fields type, unit, help and refuses a bad type', () => {
    expect(parseMetricsBody(json({ metrics: [{ name: 'a', value: 1, type: 'counter', unit: 's', help: 'h' }] }), 'json', 'msgpack').count).toBe(1);
    expect(refused(json({ metrics: [{ name: 'a', value: 1, type: 'bogus' }] }))).toMatch(/^metrics\[0\]\.type must be one of gauge/);
  });
});
