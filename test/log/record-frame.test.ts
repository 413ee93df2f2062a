import { describe, expect, it } from 'vitest';
import {
  FRAME_OVERHEAD,
  FrameStatus,
  F_OFFSET_HI,
  checkFrame,
  decodeFrame,
  encodeFrame,
  frameSize,
} from '../../src/log/record-frame.ts';

const enc = new TextEncoder();

function frameOf(offset: number, key: string, value: Uint8Array, timestamp = 1_700_000_123_456.0, ct = 1) {
  const k = enc.encode(key);
  const buf = Buffer.alloc(frameSize(k.length, value.length));
  const end = encodeFrame(buf, 0, offset, { key: k, value, timestamp, contentType: ct });
  expect(end).toBe(buf.length);
  return buf;
}

describe('record frame', () => {
  it('round-trips offset, timestamp, content type, key and value', () => {
    const value = new Uint8Array([0, 1, 2, 250, 255]);
    const buf = frameOf(42, 'client-7', value, 1_700_000_123_456, 2);
    const size = new Int32Array(1);
    expect(checkFrame(buf, 0, buf.length, size)).toBe(FrameStatus.ok);
    expect(size[0]).toBe(buf.length);
    const rec = decodeFrame(buf, 0);
    expect(rec.offset).toBe(42);
    expect(rec.timestamp).toBe(1_700_000_123_456);
    expect(rec.contentType).toBe(2);
    expect(new TextDecoder().decode(rec.key)).toBe('client-7');
    expect(Array.from(rec.value)).toEqual(Array.from(value));
  });

  it('keeps offsets beyond 32 bits and empty keys/values', () => {
    const offset = 2 ** 40 + 12345;
    const buf = frameOf(offset, '', new Uint8Array(0));
    expect(buf.length).toBe(FRAME_OVERHEAD);
    expect(buf.readUInt32LE(F_OFFSET_HI)).toBe(2 ** 8);
    const size = new Int32Array(1);
    expect(checkFrame(buf, 0, buf.length, size)).toBe(FrameStatus.ok);
    expect(decodeFrame(buf, 0).offset).toBe(offset);
  });

  it('decodes consecutive frames from one buffer', () => {
    const a = frameOf(0, 'a', enc.encode('first'));
    const b = frameOf(1, 'bb', enc.encode('second'));
    const buf = Buffer.concat([a, b]);
    const size = new Int32Array(1);
    expect(checkFrame(buf, 0, buf.length, size)).toBe(FrameStatus.ok);
    expect(checkFrame(buf, size[0], buf.length, size)).toBe(FrameStatus.ok);
    expect(new TextDecoder().decode(decodeFrame(buf, a.length).value)).toBe('second');
  });

  it('reports a cut frame as incomplete, never as a record', () => {
    const buf = frameOf(5, 'key', enc.encode('some value bytes'));
    const size = new Int32Array(1);
    for (const cut of [0, 3, 4, 20, buf.length - 1]) {
      expect(checkFrame(buf, 0, cut, size)).toBe(FrameStatus.incomplete);
    }
  });

  it('detects a flipped bit anywhere after the length field', () => {
    const clean = frameOf(9, 'key', enc.encode('value that matters'));
    const size = new Int32Array(1);
    for (let i = 4; i < clean.length; i++) {
      const buf = Buffer.from(clean);
      buf[i] ^= 0x10;
      expect(checkFrame(buf, 0, buf.length, size), `byte ${i}`).not.toBe(FrameStatus.ok);
    }
  });

  it('rejects absurd lengths as corrupt instead of waiting for gigabytes', () => {
    const buf = frameOf(1, 'k', enc.encode('v'));
    buf.writeUInt32LE(0xfffffff0, 0);
    expect(checkFrame(buf, 0, buf.length, new Int32Array(1))).toBe(FrameStatus.corrupt);
    buf.writeUInt32LE(3, 0);
    expect(checkFrame(buf, 0, buf.length, new Int32Array(1))).toBe(FrameStatus.corrupt);
  });
});
