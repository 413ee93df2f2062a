/**
 * Conformance of the one-pass seed JSON scanner (src/protocols/seed-json-scan.ts) with the
 * JSON.parse reference path it replaced (parseMetricsBodyReference): over seeded random
 * valid bodies and hostile ones, parseMetricsBody must give exactly the reference's
 * verdict, error message, count, content type and stored bytes, for both stored formats
 * (msgpack: transcoded; json: as sent). And the scanner must actually be the one doing the
 * work: every ordinary valid body takes its fast path (it may hand back only the unusual
 * ones its doc comment lists), and whenever it does answer, its bytes are the reference's.
 */
import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { MsgpackrWriter } from '../../src/records/msgpackr-writer.ts';
import { FALLBACK, scanSeedJson } from '../../src/protocols/seed-json-scan.ts';
import { BadRequest, parseMetricsBody, parseMetricsBodyReference, type BodyFormat } from '../../src/workers/metrics-body.ts';
import { prng } from '../support/prng.ts';

type Verdict = { ok: true; count: number; contentType: number; value: string } | { ok: false; error: string };

function verdict(run: () => { count: number; contentType: number; value: Uint8Array }): Verdict {
  try {
    const r = run();
    return { ok: true, count: r.count, contentType: r.contentType, value: Buffer.from(r.value).toString('hex') };
  } catch (e) {
    if (!(e instanceof BadRequest)) throw e;
    return { ok: false, error: e.message };
  }
}

/** The reference with the same preamble as parseMetricsBody (BOM, UTF-8), which it shares. */
function reference(body: Buffer, store: BodyFormat): Verdict {
  return verdict(() => {
    let b = body;
    if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
    if (!isUtf8(b)) return parseMetricsBody(body, 'json', store); // the shared UTF-8 message
    return parseMetricsBodyReference(b, 'json', store);
  });
}

const stats = { fast: 0, fallback: 0 };

/** Both formats: same verdict as the reference; when the scanner answers, the same bytes. */
function conforms(body: Buffer, expectFast = false): Verdict {
  let last: Verdict | undefined;
  for (const store of ['msgpack', 'json'] as const) {
    const want = reference(body, store);
    const got = verdict(() => parseMetricsBody(body, 'json', store));
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      expect.fail(`${store}: body ${JSON.stringify(body.toString('latin1').slice(0, 300))}\n got ${JSON.stringify(got).slice(0, 300)}\nwant ${JSON.stringify(want).slice(0, 300)}`);
    }
    const stripped = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? body.subarray(3) : body;
    if (isUtf8(stripped)) {
      const out = store === 'msgpack' ? new MsgpackrWriter(16) : undefined;
      const count = scanSeedJson(stripped, out);
      if (count === FALLBACK) {
        stats.fallback++;
        if (expectFast && want.ok) expect.fail(`${store}: an ordinary valid body was handed to the reference: ${body.toString().slice(0, 300)}`);
      } else {
        stats.fast++;
        expect(want.ok, 'the scanner accepted a body the reference refuses').toBe(true);
        if (want.ok) {
          expect(count).toBe(want.count);
          if (out !== undefined) expect(out.finishMetrics(count).toString('hex')).toBe(want.value);
        }
      }
    }
    last = want;
  }
  return last!;
}

class Gen {
  readonly r: () => number;
  constructor(r: () => number) {
    this.r = r;
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  /** JSON whitespace, usually none. */
  ws(): string {
    if (this.r() < 0.7) return '';
    let s = '';
    for (let k = this.int(3) + 1; k > 0; k--) s += this.pick([' ', '\t', '\n', '\r', '  ']);
    return s;
  }
  /** A string value: ASCII, Latin, CJK, emoji; lengths around the msgpack header boundaries. */
  text(): string {
    const len = this.r() < 0.8 ? this.pick([0, 1, 3, 8, 12]) : this.pick([31, 32, 33, 63, 64, 100, 255, 256, 300]);
    const alphabets = ['abcxyz_-.:/ 019', 'éüß', '中文字', '😀🚀', '"\\\n\t\u0001\u001f\u007f', '\u2028\u2029\ufeff'];
    const chars: string[] = [];
    while (chars.length < len) chars.push(this.pick([...this.pick(alphabets)]));
    return chars.join(''); // whole code points: a lone surrogate is no ordinary body
  }
  /** JSON string literal of `s`, escaping what must be and, at random, what may be. */
  lit(s: string, escapeFreely = true): string {
    let o = '"';
    for (const ch of s) {
      const c = ch.codePointAt(0)!;
      const free = escapeFreely && this.r() < 0.1;
      if (ch === '"' || ch === '\\') o += `\\${ch}`;
      else if (c < 0x20) o += this.pick(c === 10 ? ['\\n', '\\u000a', '\\u000A'] : c === 9 ? ['\\t', '\\u0009'] : [`\\u${c.toString(16).padStart(4, '0')}`]);
      else if (ch === '/' && free) o += '\\/';
      else if (free && c > 0xffff) {
        const hi = 0xd800 + ((c - 0x10000) >> 10);
        const lo = 0xdc00 + ((c - 0x10000) & 0x3ff);
        o += `\\u${hi.toString(16)}\\u${lo.toString(16).toUpperCase()}`;
      } else if (free) o += `\\u${c.toString(16).padStart(4, '0')}`;
      else o += ch;
    }
    return `${o}"`;
  }
  /** A finite number as JSON text, in one of its many spellings. */
  num(): string {
    const v = this.pick([
      () => this.pick([0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 2]),
      () => -this.pick([1, 31, 32, 33, 127, 128, 129, 32767, 32768, 32769, 2 ** 31, 2 ** 31 + 1, 2 ** 40]),
      () => (this.r() - 0.5) * 10 ** this.int(30),
      () => this.r() * 10 ** -this.int(330),
      () => this.pick([5e-324, 1.7976931348623157e308, 0.1, 0.2, 0.3, 1 / 3, 123456789012345680000, 9007199254740993]),
    ])();
    const text = this.spell(v);
    return Number.isFinite(Number(text)) ? text : String(v); // rounding can spell 1.8e308
  }
  spell(v: number): string {
    return this.pick([
      () => String(v),
      () => (Object.is(v, -0) ? '-0' : String(v)),
      () => v.toExponential(this.int(20)),
      () => v.toExponential(this.int(20)).replace('e', 'E').replace('+', ''),
      () => (Math.abs(v) < 1e21 ? v.toFixed(this.int(8)) : String(v)),
      () => (Number.isInteger(v) && Math.abs(v) < 1e21 ? `${v.toFixed(0)}.000` : String(v)),
      () => String(v).replace(/^(-?)(\d)/, '$1$2') + (String(v).includes('e') ? '' : 'e0'),
    ])();
  }
  /** A timestamp in range, spelt without rounding (which could push it out of range). */
  timestamp(): string {
    const v = this.pick([
      () => 1e11 + this.r() * (1e14 - 1e11 - 1),
      () => Math.floor(1_600_000_000_000 + this.r() * 2e11),
      () => this.pick([1e11, 1e14 - 1, 1e14 - 0.5, 99_999_999_999.99 + 1]),
    ])();
    const s = String(v);
    return this.pick([s, s.includes('.') ? `${s}00` : `${s}.0`, `${s}e0`, `${s}E+0`, v === 1e11 ? '1e11' : s, v === 1e11 ? '1.0E11' : s]);
  }
  /** An ordinary valid metric as [key, value text] pairs in random order. */
  metric(): [string, string][] {
    const f: [string, string][] = [
      ['name', this.lit(this.text() || 'n')],
      ['value', this.num()],
    ];
    if (this.r() < 0.6) f.push(['timestamp', this.timestamp()]);
    if (this.r() < 0.7) {
      const n = this.r() < 0.9 ? this.pick([0, 1, 2, 5]) : this.pick([15, 16, 17, 40]);
      const keys = new Set<string>();
      // Bounded: a key that is already there is retried with a suffix that makes it new.
      while (keys.size < n) {
        const k = `${this.pick(['host', 'job', 'le', 'région', '__proto__', 'hasOwnProperty', 'constructor', 'a1', 'x'])}${keys.size % 3 === 0 ? '' : this.text()}`;
        keys.add(keys.has(k) ? `${k}#${keys.size}` : k);
      }
      f.push(['tags', `{${[...keys].map((k) => `${this.ws()}${this.lit(k)}${this.ws()}:${this.ws()}${this.lit(this.text())}${this.ws()}`).join(',')}}`]);
    }
    if (this.r() < 0.3) f.push(['type', `"${this.pick(['gauge', 'counter', 'histogram', 'summary', 'gaugehistogram', 'info', 'stateset', 'unknown'])}"`]);
    if (this.r() < 0.3) f.push(['unit', this.lit(this.text())]);
    if (this.r() < 0.3) f.push(['help', this.lit(this.text())]);
    for (let k = f.length - 1; k > 0; k--) {
      const j = this.int(k + 1);
      [f[k], f[j]] = [f[j]!, f[k]!];
    }
    return f;
  }
  object(fields: [string, string][]): string {
    return `{${fields.map(([k, v]) => `${this.ws()}"${k}"${this.ws()}:${this.ws()}${v}${this.ws()}`).join(',')}}`;
  }
  body(metrics: [string, string][][]): string {
    return `${this.ws()}{${this.ws()}"metrics"${this.ws()}:${this.ws()}[${metrics.map((m) => `${this.ws()}${this.object(m)}${this.ws()}`).join(',')}]${this.ws()}}${this.ws()}`;
  }
}

describe('seed JSON scanner: the same verdicts and records as JSON.parse', () => {
  it('seeded random valid bodies take the fast path and store the reference bytes', () => {
    for (let seed = 1; seed <= 600; seed++) {
      const g = new Gen(prng(seed));
      const metrics = Array.from({ length: g.pick([1, 1, 2, 5, 16, 17]) }, () => g.metric());
      const v = conforms(Buffer.from(g.body(metrics)), true);
      expect(v.ok, `seed ${seed}: ${JSON.stringify(v).slice(0, 200)}`).toBe(true);
    }
  });

  it('seeded mutations: duplicate, unknown, escaped or misplaced keys; wrong types; out-of-range numbers', () => {
    const mutations: ((g: Gen, m: [string, string][]) => void)[] = [
      (g, m) => m.push([g.pick(['name', 'value', 'timestamp', 'tags', 'type', 'unit', 'help']), g.pick([g.lit('x'), '1', '1700000000000', '{}', '"gauge"', 'null', 'true', '[]'])]),
      (g, m) => m.push([g.pick(['extra', 'Name', 'nam', 'names', 'valu', '', 'n\\u0061me', 'timestampx', '0']), '1']),
      (g, m) => m.splice(g.int(m.length), 1),
      (g, m) => {
        const k = g.int(m.length);
        m[k] = [m[k]![0], g.pick(['null', 'true', 'false', '"1"', '[1]', '{}', '1e999', '-1e999', 'NaN', 'Infinity', '01', '-01', '00', '1.', '.5', '+1', '1e', '1e+', '-', '--1', '0x10', '1_000', '""', '"bogus"', '"count\\u0065r"', '1700000000', '1.7e18', '{"a":1}', '{"1":"x"}', '{"a":"x","a":"y"}', '{"a":1,"a":"x"}', '"\\ud800"', '"\\udc00x"', '"\\ud800\\u0041"', '"\\uDBFF\\uDFFF"', '"\\u12"', '"\\uZZZZ"', '"\\x41"', '"\\\'"', '"a\tb"', '"\u0000"'])];
      },
      (g, m) => m.push(['tags', `{${Array.from({ length: g.int(20) + 1 }, (_, i) => `"${g.pick(['k', 'k', 'j', '7', '42', '4294967295', '01'])}${g.r() < 0.5 ? i : ''}":"v"`).join(',')}}`]),
    ];
    for (let seed = 1; seed <= 800; seed++) {
      const g = new Gen(prng(100_000 + seed));
      const metrics = Array.from({ length: g.pick([1, 2, 3]) }, () => g.metric());
      g.pick(mutations)(g, metrics[g.int(metrics.length)]!);
      conforms(Buffer.from(g.body(metrics)));
    }
    // Both sides were exercised: mutated bodies the scanner vouched for, and ones it handed back.
    expect(stats.fast).toBeGreaterThan(100);
    expect(stats.fallback).toBeGreaterThan(100);
  });

  it('hostile bodies: nesting, width, escapes, surrogates, numbers, duplicates, garbage, BOM, whitespace', () => {
    const good = '{"metrics":[{"name":"a","value":1,"tags":{"h":"x"}}]}';
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const bodies: (string | Buffer)[] = [
      '',
      ' ',
      'null',
      '[]',
      '{}',
      '"metrics"',
      '{"metrics":[]}',
      '{"metrics":{}}',
      '{"metrics":null}',
      '{"metrics":[null]}',
      '{"metrics":[[]]}',
      '{"metrics":[{}]}',
      `{"metrics":[{"name":"a","value":1}],"x":${deep}}`,
      `{"metrics":[{"name":"a","value":1,"extra":${deep}}]}`,
      `{"metrics":[{"name":"a","value":1,"tags":{"t":${deep}}}]}`,
      `{"metrics":${deep}}`,
      '{'.repeat(50_000),
      `{"metrics":[${Array(5000).fill('{"name":"a","value":1}').join(',')}]}`,
      `{"metrics":[{"name":"a","value":1,"tags":{${Array.from({ length: 70_000 }, (_, i) => `"k${i}":"v"`).join(',')}}}]}`,
      `{"metrics":[{"name":"a","value":1,"tags":{${Array.from({ length: 65_535 }, (_, i) => `"k${i}":"v"`).join(',')}}}]}`,
      `{"metrics":[{"name":"${'x'.repeat(70_000)}","value":1}]}`,
      '{"metrics":[{"name":"a","value":1}],"metrics":[{"name":"b","value":2}]}',
      '{"metrics":[{"name":"a","value":1}],"metrics":[]}',
      '{"metrics":[{"name":1,"name":"a","value":1}]}',
      '{"metrics":[{"name":"a","name":"b","value":1}]}',
      '{"metrics":[{"name":"a","value":"x","value":1}]}',
      '{"metrics":[{"name":"a","value":1,"tags":{"h":1,"h":"x"}}]}',
      '{"metrics":[{"name":"a","value":1,"tags":{"h":"x","h":"y","g":"z"}}]}',
      '{"metrics":[{"name":"a","value":1,"tags":{"b":"1","2":"x","1":"y"}}]}',
      '{"metrics":[{"name":"a","value":1,"tags":{"":"empty"}}]}',
      '{"metrics":[{"name":"a","value":1,"tags":{"__proto__":"x","constructor":"y","hasOwnProperty":"z"}}]}',
      '{"metrics":[{"name":"\\ud83d\\ude00","value":1}]}',
      '{"metrics":[{"name":"\\ud83d","value":1}]}',
      '{"metrics":[{"name":"\\ude00\\ud83d","value":1}]}',
      `{"metrics":[{"name":"${'y'.repeat(70)}\\ud83d","value":1}]}`,
      '{"metrics":[{"name":"a","value":1,"tags":{"\\udfff":"x"}}]}',
      '{"metrics":[{"name":"\\u00","value":1}]}',
      '{"metrics":[{"name":"\\u00g0","value":1}]}',
      '{"metrics":[{"name":"\\","value":1}]}',
      '{"metrics":[{"name":"a\\u0000b","value":1}]}',
      '{"metrics":[{"name":"a","value":1e999}]}',
      '{"metrics":[{"name":"a","value":-1e999}]}',
      '{"metrics":[{"name":"a","value":-0}]}',
      '{"metrics":[{"name":"a","value":-0.0e-0}]}',
      '{"metrics":[{"name":"a","value":0e400}]}',
      '{"metrics":[{"name":"a","value":1e-400}]}',
      '{"metrics":[{"name":"a","value":00}]}',
      '{"metrics":[{"name":"a","value":012}]}',
      '{"metrics":[{"name":"a","value":1.5e308,"timestamp":1e13}]}',
      '{"metrics":[{"name":"a","value":123456789012345678901234567890}]}',
      '{"metrics":[{"name":"a","value":0.1000000000000000055511151231257827021181583404541015625}]}',
      '{"metrics":[{"name":"a","value":9007199254740993}]}',
      '{"metrics":[{"name":"a","value":1,"timestamp":100000000000}]}',
      '{"metrics":[{"name":"a","value":1,"timestamp":99999999999.9999}]}',
      '{"metrics":[{"name":"a","value":1,"timestamp":1e14}]}',
      '{"metrics":[{"name":"a","value":1,"timestamp":99999999999999.99}]}',
      '{"metrics":[{"name":"a","value":1,"timestamp":1e1000000}]}',
      '{"metrics":[{"name":"a","value":1,"timestamp":null}]}',
      `${good}x`,
      `${good} }`,
      `${good}\u0000`,
      `${good},`,
      `${good}${good}`,
      good.replace(']}', '],}'),
      good.replace('1,', '1,,'),
      good.replace('}]', ',}]'),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(good)]),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), Buffer.from(good)]),
      Buffer.concat([Buffer.from('{"metrics":[{"name":"a",'), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('"value":1}]}')]),
      Buffer.concat([Buffer.from('{"metrics":[{"name":"caf'), Buffer.from([0xe9]), Buffer.from('","value":1}]}')]),
      Buffer.concat([Buffer.from('{"metrics":[{"name":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","value":1}]}')]),
      ` \t\r\n${good} \t\r\n`,
      good.replace(/:/g, ' \n:\t '),
      `\f${good}`,
      `\v${good}`,
      `\u00a0${good}`,
      `\u2028${good}`,
      good.replace('"a"', '"a\tb"'),
      good.replace('"a"', '"a\nb"'),
      good.replace('"a"', "'a'"),
      good.replace('"name"', 'name'),
      good.replace('"name"', '"n\\u0061me"'),
      good.replace('"metrics"', '"metr\\u0069cs"'),
      good.replace('"h":"x"', '"h":"x" /* c */'),
      good.replace('1', 'true'),
      good.replace('1', '1.0'),
      good.replace('1', '-'),
    ];
    for (const b of bodies) conforms(Buffer.isBuffer(b) ? b : Buffer.from(b));
  });

  it('every truncation and seeded byte flips of valid bodies', () => {
    const g = new Gen(prng(7));
    for (let k = 0, tries = 0; k < 6 && tries < 1000; tries++) {
      const body = Buffer.from(g.body([g.metric(), g.metric()]));
      if (body.length > 600) continue; // every prefix is parsed four times: keep them small
      k++;
      for (let end = 0; end < body.length; end++) conforms(body.subarray(0, end));
      for (let f = 0; f < 300; f++) {
        const copy = Buffer.from(body);
        copy[g.int(copy.length)] = g.pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x39, 0x2d, 0x65, 0x2e, 0x20, 0x00, 0x80, 0xff, g.int(256)]);
        conforms(copy);
      }
    }
  });
});

describe('the transcoder\'s scratch buffer', () => {
  it('a record larger than the buffer it keeps (1 MiB) is stored whole, and the next one too', () => {
    const big = Buffer.from(JSON.stringify({ metrics: Array.from({ length: 3000 }, (_, i) => ({ name: `m${i}`.padEnd(400, 'x'), value: i })) }));
    for (const body of [big, Buffer.from('{"metrics":[{"name":"a","value":1}]}'), big]) {
      const want = reference(body, 'msgpack');
      expect(want.ok && want.value.length / 2).toBeGreaterThan(body === big ? 1024 * 1024 : 0);
      expect(verdict(() => parseMetricsBody(body, 'json', 'msgpack'))).toEqual(want);
    }
  });
});
