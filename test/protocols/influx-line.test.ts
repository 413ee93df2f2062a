/**
 * The line protocol parser on the Influx reference's edge cases: every escape, every
 * field type, comments, blank lines, CRLF, precisions, and a bad line named by number.
 */
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { LineProtocolError, parseLineProtocol, timestampMs, type Precision } from '../../src/protocols/influx-line.ts';
import { createRecordEncoder } from '../../src/records/record-encoder.ts';
import { prng } from '../support/prng.ts';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const NOW = 1_700_000_000_000;

function parse(text: string, precision: Precision = 'ns') {
  const enc = createRecordEncoder('msgpack');
  const stats = parseLineProtocol(text, precision, NOW, enc);
  return { stats, metrics: (unpackr.unpack(enc.finish()) as { metrics: { name: string; value: number; timestamp: number; tags: Record<string, string> }[] }).metrics };
}

describe('Influx line protocol', () => {
  it('maps each numeric field to <measurement>_<field> with the line tags', () => {
    const { metrics } = parse('cpu,host=a,region=eu usage_idle=90.5,usage_user=3i 1700000000000000000');
    expect(metrics).toEqual([
      { name: 'cpu_usage_idle', value: 90.5, timestamp: NOW, tags: { host: 'a', region: 'eu' } },
      { name: 'cpu_usage_user', value: 3, timestamp: NOW, tags: { host: 'a', region: 'eu' } },
    ]);
  });

  it('unescapes measurement, tag keys, tag values and field keys', () => {
    const { metrics } = parse(String.raw`my\ meas\,ure=ment,tag\ key\,x\=y=tag\ val\,ue\=z field\ k\=e\,y=1 0`);
    expect(metrics[0]).toEqual({ name: 'my meas,ure=ment_field k=e,y', value: 1, timestamp: 0, tags: { 'tag key,x=y': 'tag val,ue=z' } });
    // A backslash before another character stays a backslash.
    expect(parse(String.raw`m,path=C:\dir v=1 0`).metrics[0]!.tags).toEqual({ path: String.raw`C:\dir` });
  });

  it('reads every field type and drops (and counts) string fields, escaped quotes and newlines included', () => {
    const { metrics, stats } = parse(
      'm f=1.5,g=-2e3,i=-7i,u=7u,t1=t,t2=T,t3=true,t4=True,t5=TRUE,f1=f,f2=F,f3=false,f4=False,f5=FALSE,s="a \\"quoted\\" \\\\ str, with= spaces\nand a newline",last=.5 5',
    );
    expect(metrics.map((m) => [m.name, m.value])).toEqual([
      ['m_f', 1.5], ['m_g', -2000], ['m_i', -7], ['m_u', 7],
      ['m_t1', 1], ['m_t2', 1], ['m_t3', 1], ['m_t4', 1], ['m_t5', 1],
      ['m_f1', 0], ['m_f2', 0], ['m_f3', 0], ['m_f4', 0], ['m_f5', 0], ['m_last', 0.5],
    ]);
    expect(stats.stringFieldsDropped).toBe(1);
  });

  it('skips comments and blank lines, accepts CRLF, stamps lines without a timestamp with the arrival time', () => {
    const { metrics, stats } = parse('# a comment\r\n\r\n   \n  m v=1\r\n#m v=2\nm v=3 1000000\n\n');
    expect(metrics).toEqual([
      { name: 'm_v', value: 1, timestamp: NOW, tags: {} },
      { name: 'm_v', value: 3, timestamp: 1, tags: {} },
    ]);
    expect(stats.lines).toBe(2);
  });

  it('converts every precision to ms, keeping sub-ms as a fraction', () => {
    const at = (ts: string, p: Precision) => parse(`m v=1 ${ts}`, p).metrics[0]!.timestamp;
    expect(at('1700000000123456789', 'ns')).toBe(1_700_000_000_123.456789);
    expect(at('1700000000123000000', 'ns')).toBe(1_700_000_000_123);
    expect(at('1700000000123456', 'us')).toBe(1_700_000_000_123.456);
    expect(at('1700000000123', 'ms')).toBe(1_700_000_000_123);
    expect(at('1700000000', 's')).toBe(1_700_000_000_000);
    expect(at('28333333', 'm')).toBe(1_699_999_980_000);
    expect(at('472222', 'h')).toBe(1_699_999_200_000);
    expect(at('-1000000', 'ns')).toBe(-1);
  });

  it('reads every timestamp as timestampMs does, in every precision (the in-place fast path included)', () => {
    const random = prng(19);
    const texts = ['0', '000', '1', '999999', '1000000', '1700000000000000000', '9223372036854775807', '-1', '-1700000000000000000', '0001700000000000000'];
    for (let n = 0; n < 2000; n++) {
      const length = 1 + Math.floor(random() * 19);
      let t = random() < 0.1 ? '-' : '';
      for (let k = 0; k < length; k++) t += String(Math.floor(random() * 10));
      texts.push(t);
    }
    const fail = (msg: string): never => {
      throw new Error(msg);
    };
    for (const precision of ['ns', 'us', 'ms', 's', 'm', 'h'] as const) {
      // A tab where the timestamp would start is an empty timestamp: refused, as before.
      expect(() => parse('m v=1 \t', precision)).toThrow(/invalid timestamp/);
      for (const t of texts) {
        const { metrics } = parse(`m v=1 ${t}`, precision);
        expect([precision, t, metrics[0]!.timestamp]).toEqual([precision, t, timestampMs(t, precision, fail)]);
      }
    }
  });

  it('rejects a bad line naming its number', () => {
    const bad = (text: string, re: RegExp) => {
      try {
        parse(text);
        throw new Error('parsed');
      } catch (e) {
        expect(e).toBeInstanceOf(LineProtocolError);
        expect((e as Error).message).toMatch(re);
      }
    };
    bad('m v=1\n# c\nm v=1 12x', /^line 3: invalid timestamp 12x/);
    bad('m v=1\nm', /^line 2: missing fields/);
    bad('m v=', /^line 1: field "v" has no value/);
    bad('m v=abc', /invalid value abc/);
    bad('m,t v=1', /tag "t" has no "=value"/);
    bad('m,t= v=1', /empty tag value/);
    bad('m v="open', /no closing quote/);
    bad('m v=-1u', /unsigned integer -1u is negative/);
    bad('m v=1 1 extra', /unexpected "extra"/);
    bad('m v=1i5', /invalid value 1i5/);
    bad('m v=1.5i', /invalid integer 1.5i/);
    bad(',t=1 v=1', /empty measurement/);
    bad('m =1', /empty field key/);
  });
});

describe('Influx lines with many tags', () => {
  it('a repeated tag key keeps the last value, for long tag lists too', () => {
    const tags = Array.from({ length: 5000 }, (_, i) => `t${i}=v`).join(',');
    const { metrics } = parse(`m,${tags},t7=last,x=1 f=1 0`);
    expect(Object.keys(metrics[0]!.tags).length).toBe(5001);
    expect(metrics[0]!.tags.t7).toBe('last');
  });
});
