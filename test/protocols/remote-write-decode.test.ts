/**
 * The hand-written remote_write decoders against protobufjs: the same payloads (built by
 * the library from seeded random series) decode to the same entries, in both value
 * formats; the spec's label rules; and no malformed body escapes as anything but
 * RemoteWriteError.
 */
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { createRecordEncoder } from '../../src/records/record-encoder.ts';
import { decodeWriteRequestV1, decodeWriteRequestV2, RemoteWriteError } from '../../src/protocols/remote-write-decode.ts';
import { encode, rwSeries, WriteRequest, WriteRequestV2 } from '../support/protos.ts';
import { prng } from '../support/prng.ts';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

interface Entry {
  name: string;
  value: number;
  timestamp: number;
  tags: Record<string, string>;
  type?: string;
  unit?: string;
  help?: string;
  histogram?: Record<string, unknown>;
}

function v1(body: Uint8Array, format: 'msgpack' | 'json' = 'msgpack'): Entry[] {
  const enc = createRecordEncoder(format);
  decodeWriteRequestV1(body, enc);
  return parse(enc.finish(), format);
}

function v2(body: Uint8Array, format: 'msgpack' | 'json' = 'msgpack'): Entry[] {
  const enc = createRecordEncoder(format);
  decodeWriteRequestV2(body, enc);
  return parse(enc.finish(), format);
}

function parse(value: Uint8Array, format: 'msgpack' | 'json'): Entry[] {
  if (format === 'json') {
    return (JSON.parse(Buffer.from(value).toString()) as { metrics: Entry[] }).metrics.map((e) => ({
      ...e,
      value: typeof e.value === 'string' ? (e.value === 'NaN' ? NaN : e.value === '+Inf' ? Infinity : -Infinity) : e.value,
    }));
  }
  return (unpackr.unpack(value) as { metrics: Entry[] }).metrics;
}

const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e308, 5e-324, -12.5];
const WORDS = ['api', 'db', 'é', 'ünïcödé', 'a,b', 'x=y', 'with space', 'a"quote', 'k'.repeat(40)];

function randomSeries(r: () => number, n: number) {
  const out = [];
  for (let s = 0; s < n; s++) {
    const labels: Record<string, string> = { __name__: `metric_${s % 7}` };
    const nl = Math.floor(r() * 6);
    for (let l = 0; l < nl; l++) labels[`l${l}_${Math.floor(r() * 3)}`] = WORDS[Math.floor(r() * WORDS.length)]!;
    const samples: [number, number][] = [];
    const ns = 1 + Math.floor(r() * 4);
    for (let i = 0; i < ns; i++) {
      const v = r() < 0.2 ? SPECIALS[Math.floor(r() * SPECIALS.length)]! : (r() - 0.5) * 1e6;
      const ts = r() < 0.1 ? -Math.floor(r() * 1e12) : 1_700_000_000_000 + Math.floor(r() * 1e9);
      samples.push([v, ts]);
    }
    out.push({ labels, samples });
  }
  return out;
}

/** What the library says the request holds, in record-entry form. */
function expectedV1(body: Uint8Array): Entry[] {
  const req = WriteRequest.toObject(WriteRequest.decode(body), { longs: Number, defaults: true }) as {
    timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[];
  };
  const out: Entry[] = [];
  for (const ts of req.timeseries) {
    const tags: Record<string, string> = {};
    let name = '';
    for (const l of ts.labels) {
      if (l.name === '__name__') name = l.value;
      else if (l.value !== '') tags[l.name] = l.value;
    }
    for (const s of ts.samples) out.push({ name, value: s.value, timestamp: s.timestamp, tags });
  }
  return out;
}

describe('remote_write 1.0 decoder', () => {
  it('matches protobufjs on 200 seeded random requests, msgpack and JSON', () => {
    const r = prng(12);
    for (let i = 0; i < 200; i++) {
      const series = randomSeries(r, 1 + Math.floor(r() * 20));
      const body = encode(WriteRequest, { timeseries: series.map((s) => rwSeries(s.labels, s.samples)) });
      const want = expectedV1(body);
      expect(v1(body)).toEqual(want);
      expect(v1(body, 'json')).toEqual(want);
    }
  });

  it('keeps int64 timestamps and float64 values exactly, NaN (stale markers) included', () => {
    const stale = Buffer.from('7ff0000000000002', 'hex').readDoubleBE(0); // Prometheus' StaleNaN
    const body = encode(WriteRequest, {
      timeseries: [rwSeries({ __name__: 'up', job: 'a' }, [[stale, 1_700_000_000_123], [0.1 + 0.2, 9_007_199_254_740_991]])],
    });
    const got = v1(body);
    expect(Number.isNaN(got[0]!.value)).toBe(true);
    expect(got[0]!.timestamp).toBe(1_700_000_000_123);
    expect(got[1]).toEqual({ name: 'up', value: 0.1 + 0.2, timestamp: 9_007_199_254_740_991, tags: { job: 'a' } });
  });

  it('applies metadata (which may come after the series) to the family and its _bucket/_sum/_count series', () => {
    const body = encode(WriteRequest, {
      timeseries: [rwSeries({ __name__: 'req_seconds_bucket', le: '0.5' }, [[3, 1000]]), rwSeries({ __name__: 'other' }, [[1, 1000]])],
      metadata: [{ type: 3, metric_family_name: 'req_seconds', help: 'Request time.', unit: 'seconds' }],
    });
    const got = v1(body);
    expect(got[0]).toEqual({ name: 'req_seconds_bucket', value: 3, timestamp: 1000, tags: { le: '0.5' }, type: 'histogram', help: 'Request time.', unit: 'seconds' });
    expect(got[1]!.type).toBeUndefined();
  });

  it('stores native histograms with absolute bucket counts', () => {
    const body = encode(WriteRequest, {
      timeseries: [
        {
          labels: [{ name: '__name__', value: 'lat' }],
          histograms: [
            {
              count_int: 10, sum: 42.5, schema: 3, zero_threshold: 1e-128, zero_count_int: 1,
              positive_spans: [{ offset: -2, length: 2 }, { offset: 3, length: 1 }], positive_deltas: [2, 3, -4],
              negative_spans: [{ offset: 0, length: 1 }], negative_deltas: [2], reset_hint: 2, timestamp: 1_700_000_000_000,
            },
          ],
        },
      ],
    });
    const [h] = v1(body);
    expect(h).toMatchObject({ name: 'lat', value: 10, timestamp: 1_700_000_000_000, type: 'histogram' });
    expect(h!.histogram).toEqual({
      schema: 3, count: 10, sum: 42.5, zero_threshold: 1e-128, zero_count: 1,
      positive_spans: [{ offset: -2, length: 2 }, { offset: 3, length: 1 }], positive_counts: [2, 5, 1],
      negative_spans: [{ offset: 0, length: 1 }], negative_counts: [2], reset_hint: 'no',
    });
  });

  it('refuses what the spec forbids: no metric name, empty or duplicate label names', () => {
    const bad = (labels: { name: string; value: string }[]) => encode(WriteRequest, { timeseries: [{ labels, samples: [{ value: 1, timestamp: 1 }] }] });
    expect(() => v1(bad([{ name: 'job', value: 'a' }]))).toThrow(/no metric name/);
    expect(() => v1(bad([{ name: '__name__', value: 'x' }, { name: '', value: 'a' }]))).toThrow(/empty label name/);
    expect(() => v1(bad([{ name: '__name__', value: 'x' }, { name: 'a', value: '1' }, { name: 'a', value: '2' }]))).toThrow(/duplicate label name "a"/);
    // An empty label value means the label is absent.
    expect(v1(bad([{ name: '__name__', value: 'x' }, { name: 'a', value: '' }]))[0]!.tags).toEqual({});
  });

  it('checks labels in any order and number alike: sorted, shuffled, with a duplicate anywhere (1 to 24 labels)', () => {
    // The decoder compares each name with its predecessor while names increase (what
    // senders send) and searches pairwise or hashed once one does not: both must agree.
    const r = prng(7);
    const shuffle = <T>(a: T[]) => {
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [a[i], a[j]] = [a[j]!, a[i]!];
      }
      return a;
    };
    for (let i = 0; i < 300; i++) {
      const n = Math.floor(r() * 24);
      const labels = [{ name: '__name__', value: `m${i}` }];
      for (let l = 0; l < n; l++) labels.push({ name: `l${String(l).padStart(2, '0')}${WORDS[l % WORDS.length]}`, value: WORDS[Math.floor(r() * WORDS.length)]! });
      const ordered = i % 3 === 0 ? labels : shuffle(labels.slice());
      const body = (ls: { name: string; value: string }[]) => encode(WriteRequest, { timeseries: [{ labels: ls, samples: [{ value: i, timestamp: 1_700_000_000_000 + i }] }] });
      expect(v1(body(ordered))).toEqual(expectedV1(body(ordered)));
      if (n === 0) continue;
      const dup = labels[1 + Math.floor(r() * n)]!;
      const withDup = ordered.slice();
      withDup.splice(Math.floor(r() * (withDup.length + 1)), 0, { name: dup.name, value: 'again' });
      expect(() => v1(body(withDup))).toThrow(`duplicate label name "${dup.name}"`);
    }
  });

  it('throws only RemoteWriteError on truncated, mutated and hostile bodies', () => {
    const r = prng(99);
    const good = encode(WriteRequest, { timeseries: randomSeries(r, 30).map((s) => rwSeries(s.labels, s.samples)) });
    const hostile = [
      Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // a 4 GiB length
      Uint8Array.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), // an 11-byte varint
      Uint8Array.from([0x0a, 0x02, 0x0a]), // truncated nested message
      Uint8Array.from([0x0f]), // wire type 7
    ];
    let thrown = 0;
    const tryOne = (b: Uint8Array) => {
      try {
        v1(b);
      } catch (e) {
        expect(e).toBeInstanceOf(RemoteWriteError);
        thrown++;
      }
    };
    hostile.forEach(tryOne);
    for (let cut = 0; cut < good.length; cut += 7) tryOne(good.subarray(0, cut));
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from(good);
      for (let k = 0; k < 3; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      tryOne(b);
    }
    expect(thrown).toBeGreaterThan(4);
  });
});

describe('remote_write 2.0 decoder', () => {
  it('resolves symbols, metadata and counts samples, histograms and exemplars', () => {
    const symbols = ['', '__name__', 'http_requests_total', 'job', 'api', 'Requests.', 'requests', 'trace_id', 'abc'];
    const body = encode(WriteRequestV2, {
      symbols,
      timeseries: [
        {
          labels_refs: [1, 2, 3, 4],
          samples: [{ value: 5, timestamp: 1_700_000_000_000 }, { value: 6, timestamp: 1_700_000_015_000 }],
          exemplars: [{ labels_refs: [7, 8], value: 5, timestamp: 1_700_000_000_000 }],
          metadata: { type: 1, help_ref: 5, unit_ref: 6 },
          created_timestamp: 1_699_999_000_000,
        },
        { labels_refs: [1, 2], histograms: [{ count_float: 2.5, sum: 1, schema: -53, custom_values: [0.1, 1], positive_spans: [{ offset: 0, length: 3 }], positive_counts: [1, 1, 0.5], timestamp: 7 }] },
      ],
    });
    const enc = createRecordEncoder('msgpack');
    const stats = decodeWriteRequestV2(body, enc);
    expect(stats).toMatchObject({ samples: 2, histograms: 1, exemplars: 1 });
    const got = parse(enc.finish(), 'msgpack');
    expect(got[0]).toEqual({ name: 'http_requests_total', value: 5, timestamp: 1_700_000_000_000, tags: { job: 'api' }, type: 'counter', help: 'Requests.', unit: 'requests' });
    expect(got[2]).toMatchObject({ name: 'http_requests_total', value: 2.5, timestamp: 7, type: 'histogram' });
    expect(got[2]!.histogram).toMatchObject({ schema: -53, custom_values: [0.1, 1], positive_counts: [1, 1, 0.5] });
  });

  it('matches the 1.0 decoder on the same series sent as 2.0', () => {
    const r = prng(7);
    for (let i = 0; i < 100; i++) {
      const series = randomSeries(r, 1 + Math.floor(r() * 10));
      const symbols = [''];
      const ref = (s: string) => {
        let k = symbols.indexOf(s);
        if (k === -1) k = symbols.push(s) - 1;
        return k;
      };
      const ts = series.map((s) => ({
        labels_refs: Object.keys(s.labels).sort().flatMap((k) => [ref(k), ref(s.labels[k]!)]),
        samples: s.samples.map(([value, timestamp]) => ({ value, timestamp })),
      }));
      const b2 = encode(WriteRequestV2, { symbols, timeseries: ts });
      const b1 = encode(WriteRequest, { timeseries: series.map((s) => rwSeries(s.labels, s.samples)) });
      expect(v2(b2)).toEqual(v1(b1));
    }
  });

  it('refuses out-of-range symbol references and odd labels_refs', () => {
    expect(() => v2(encode(WriteRequestV2, { symbols: ['', '__name__'], timeseries: [{ labels_refs: [1, 9], samples: [{ value: 1 }] }] }))).toThrow(/symbol reference 9 out of range/);
    expect(() => v2(encode(WriteRequestV2, { symbols: ['', '__name__', 'x'], timeseries: [{ labels_refs: [1, 2, 1], samples: [{ value: 1 }] }] }))).toThrow(/odd length/);
  });
});

describe('remote_write series with many labels', () => {
  it('checks duplicates among thousands of labels in one pass, and refuses one', () => {
    const labels: Record<string, string> = { __name__: 'wide' };
    for (let i = 0; i < 20000; i++) labels[`l${i}`] = 'v';
    const ok = encode(WriteRequest, { timeseries: [rwSeries(labels, [[1, 1]])] });
    expect(Object.keys(v1(ok)[0]!.tags).length).toBe(20000);
    const dup = encode(WriteRequest, { timeseries: [{ labels: [...Object.keys(labels).map((name) => ({ name, value: 'v' })), { name: 'l77', value: 'again' }], samples: [{ value: 1, timestamp: 1 }] }] });
    expect(() => v1(dup)).toThrow(/duplicate label name "l77"/);
  });
});
