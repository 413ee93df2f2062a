/**
 * The byte parser against the string parser it replaced (test/support/influx-line-reference.ts),
 * on generated bodies: every escape, every field type, duplicate and many tags, CRLF,
 * comments, unicode, invalid UTF-8 and random damage. For each body both must write the
 * the same record and statistics, or refuse it with the same message.
 */
import { describe, expect, it } from 'vitest';
import { LineProtocolError, parseLineProtocol, type Precision } from '../../src/protocols/influx-line.ts';
import { createRecordEncoder, type ValueFormat } from '../../src/records/record-encoder.ts';
import { parseLineProtocolReference } from '../support/influx-line-reference.ts';
import { orderedMsgpack } from '../support/ordered-msgpack.ts';
import { pick, prng } from '../support/prng.ts';

const NOW = 1_700_000_000_000;
const PRECISIONS: Precision[] = ['ns', 'us', 'ms', 's', 'm', 'h'];

const NAMES = ['cpu', 'm', 'my\\ meas', 'a\\,b', 'x=y', 'é', '𝄞', 'a\\b', 'a\\=b', 'long_measurement_name_of_a_telegraf_plugin', '#c', 'a"b'];
const KEYS = ['host', 'h', 'region', 't\\=k', 't\\ k', 'a\\,b', 'é', 'x', 'q"'];
/** A backslash at a token's end escapes the `=` or space after it: the line changes shape. */
const TRAILING_BACKSLASH = ['tail\\', 'k\\'];
const VALUES = ['a', 'server-01', 'v\\ w', 'v\\,w', 'v\\=w', 'ü', '𝄞', 'C:\\dir', '0', '"'];
const NUMBERS = [
  '1', '-1.5', '1e3', '-2E-3', '.5', '5.', '-0', '-0.0', '+3', '+.5', '007', '7i', '-7i', '+7i', '7u', '-7u', '-0i',
  't', 'T', 'true', 'True', 'TRUE', 'f', 'F', 'false', 'False', 'FALSE', 'tRUE',
  '123456789012345', '1234567890123456', '12345678901234567', '9007199254740993', '0.000000000000001', '3.141592653589793',
  '1e400', '-1e400', '1.5i', '.5i', '1i5', '1.2.3', 'NaN', 'Infinity', '1_0', 'abc', '', '-', '+', '.', 'i', 'u',
  '"str"', '"a \\"q\\" \\\\ b"', '"multi\nline"', '""', '"open',
];
const TIMESTAMPS = ['', ' 1700000000000000000', ' 1700000000123456789', ' 0', ' -1', ' 12x', ' 99999999999999999999', ' 1', '  42  ', ' 1\t', '\t5', ' 1700000000000000000 extra', ' 0001'];
const ENDINGS = ['\n', '\r\n', '\n\n', '\r', '\n# comment\n', '\n   \t\n', ''];

/** A tag section from the pools above (`,k=v,...`, maybe empty): mostly valid, sometimes not. */
function tagSection(random: () => number): string {
  let s = '';
  const tags = random() < 0.1 ? 17 + Math.floor(random() * 8) : Math.floor(random() * 5);
  for (let t = 0; t < tags; t++) s += `,${random() < 0.02 ? pick(random, TRAILING_BACKSLASH) : pick(random, KEYS)}=${pick(random, VALUES)}`;
  if (random() < 0.03) s += ',t=';
  return s;
}

/**
 * The tag section of a body's next line: often the last line's again (the parser reuses
 * its tokens then), or the one before it (after a line without tags, say), or nearly the
 * last (a byte more, or the first `=` moved one byte), else a new one.
 */
function nextTags(random: () => number, last: string, before: string): string {
  const r = random();
  if (r < 0.35) return last;
  if (r < 0.4) return before;
  if (r < 0.45) return last + 'x';
  const eq = last.indexOf('=');
  if (r < 0.5 && eq > 2) return last.slice(0, eq - 1) + '=' + last[eq - 1] + last.slice(eq + 1);
  return tagSection(random);
}

/** A line from the pools above, with `tags` as its tag section: mostly valid, sometimes not. */
function line(random: () => number, tags = tagSection(random)): string {
  let s = random() < 0.02 ? pick(random, TRAILING_BACKSLASH) : pick(random, NAMES);
  s += tags;
  s += random() < 0.95 ? ' ' : '  ';
  const fields = 1 + Math.floor(random() * 4);
  for (let f = 0; f < fields; f++) s += `${f > 0 ? ',' : ''}${pick(random, KEYS)}=${random() < 0.95 ? pick(random, NUMBERS.slice(0, 10)) : pick(random, NUMBERS)}`;
  return s + (random() < 0.8 ? pick(random, TIMESTAMPS.slice(0, 5)) : pick(random, TIMESTAMPS));
}

/** Random damage: a special character or a byte inserted, or a span removed. */
function damage(random: () => number, bytes: Buffer): Buffer {
  const at = Math.floor(random() * (bytes.length + 1));
  const r = random();
  if (r < 0.4) return Buffer.concat([bytes.subarray(0, at), Buffer.from([pick(random, [0x5c, 0x2c, 0x3d, 0x20, 0x22, 0x0a, 0x0d, 0x23, 0x09, 0xff, 0xc3, 0xe2, 0x80])]), bytes.subarray(at)]);
  if (r < 0.7) return Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + Math.floor(random() * 4)))]);
  return bytes.subarray(0, at); // cut short
}

type Outcome = { error: string } | { record: unknown; bytes: string; stats: string };

/** The record byte for byte (JSON as text), and as data for a readable difference. */
function run(parse: () => unknown, format: ValueFormat, enc: ReturnType<typeof createRecordEncoder>): Outcome {
  try {
    const stats = parse();
    const bytes = enc.finish();
    const data = format === 'json' ? Buffer.from(bytes).toString('utf8') : orderedMsgpack(bytes);
    return { record: data, bytes: Buffer.from(bytes).toString('hex'), stats: JSON.stringify(stats) };
  } catch (e) {
    expect(e, `${format}: ${String(e)}`).toBeInstanceOf(LineProtocolError);
    return { error: (e as Error).message };
  }
}

function both(bytes: Buffer, precision: Precision, format: ValueFormat): { ours: Outcome; reference: Outcome } {
  const a = createRecordEncoder(format);
  const b = createRecordEncoder(format);
  return {
    ours: run(() => parseLineProtocol(bytes, precision, NOW, a), format, a),
    reference: run(() => parseLineProtocolReference(bytes.toString('utf8'), precision, NOW, b), format, b),
  };
}

describe('Influx line protocol read in place (bytes) against the string parser', () => {
  it('agrees on 4000 generated bodies, damaged ones and invalid UTF-8 included, in both value formats', () => {
    const random = prng(1515);
    let refused = 0;
    let parsed = 0;
    for (let n = 0; n < 4000; n++) {
      const lines = 1 + Math.floor(random() * 6);
      let text = random() < 0.1 ? pick(random, ENDINGS) : '';
      let tags = tagSection(random);
      let before = '';
      for (let l = 0; l < lines; l++) {
        [before, tags] = [tags, nextTags(random, tags, before)];
        text += line(random, tags) + (l < lines - 1 ? pick(random, ENDINGS.slice(0, 6)) : pick(random, ENDINGS));
      }
      let bytes: Buffer = Buffer.from(text);
      if (random() < 0.25) bytes = damage(random, bytes);
      const precision = pick(random, PRECISIONS);
      const format: ValueFormat = random() < 0.8 ? 'msgpack' : 'json';
      const { ours, reference } = both(bytes, precision, format);
      expect(ours, `body ${JSON.stringify(bytes.toString('latin1'))} (${precision}, ${format})`).toEqual(reference);
      if ('error' in ours) refused++;
      else parsed++;
    }
    // The generator reaches both outcomes often, so the comparison means something.
    expect(refused).toBeGreaterThan(400);
    expect(parsed).toBeGreaterThan(1000);
  });

  it('agrees on each pool value as a field, alone on its line', () => {
    for (const value of NUMBERS) {
      for (const precision of PRECISIONS) {
        const { ours, reference } = both(Buffer.from(`m,host=a v=${value} 1700000000000000000`), precision, 'msgpack');
        expect(ours, `v=${value}`).toEqual(reference);
      }
    }
  });

  it('reads random decimal numbers exactly as Number() does', () => {
    const random = prng(77);
    for (let n = 0; n < 5000; n++) {
      const digits = 1 + Math.floor(random() * 17);
      let v = random() < 0.3 ? '-' : '';
      const point = random() < 0.6 ? Math.floor(random() * (digits + 1)) : -1;
      for (let k = 0; k < digits; k++) v += (k === point ? '.' : '') + String(Math.floor(random() * 10));
      const { ours, reference } = both(Buffer.from(`m v=${v} 0`), 'ns', 'msgpack');
      expect(ours, v).toEqual(reference);
    }
  });

  it('keeps no state between bodies: a long line, then short ones, then a refused one, then valid ones again', () => {
    const long = `m,${Array.from({ length: 3000 }, (_, i) => `tag${i}=${'v'.repeat(20)}`).join(',')} f=1 0`;
    for (const text of [long, 'm,a=b v=1 0', long, 'm,a= v=1 0', 'm,a=b v=2 0\nn v=3 0']) {
      const { ours, reference } = both(Buffer.from(text), 'ns', 'msgpack');
      expect(ours).toEqual(reference);
    }
  });
});
