/**
 * The writer's rewind (ring-writer.ts, REWIND_INDEX): with the ring empty past the first
 * MiB it starts again at the beginning, so steady traffic keeps using (and keeps resident)
 * only the start of the ring; a burst still gets the whole ring, and every record still
 * comes out once, in order, with its completion.
 */
import { describe, expect, it } from 'vitest';
import { DATA_OFFSET, DURABLE_OK, RecordDescriptor } from '../../src/ring/ring-descriptor.ts';
import { RingReader } from '../../src/ring/ring-reader.ts';
import { createRingStorage } from '../../src/ring/ring-storage.ts';
import { FULL, REWIND_INDEX, RingWriter } from '../../src/ring/ring-writer.ts';

const RECORD = 60_000;

/** The payload of record `n`: its number in the first 4 bytes, then a fill. */
function payload(n: number): Uint8Array {
  const p = new Uint8Array(RECORD).fill(n & 0xff);
  new DataView(p.buffer).setUint32(0, n);
  return p;
}

describe('rewind', () => {
  it('keeps steady traffic in the first MiB of a 4 MiB ring, every record read back in order and completed', () => {
    const storage = createRingStorage(4 << 20, 1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    let highest = 0;
    const read: number[] = [];
    const completed: number[] = [];
    // 300 records of 60 kB: 18 MB, more than four times round the ring without the rewind.
    for (let n = 0; n < 300; n++) {
      const at = writer.tryClaim(1, RECORD);
      expect(at).not.toBe(FULL);
      highest = Math.max(highest, at - DATA_OFFSET + RECORD);
      writer.bytes.set(payload(n), at);
      writer.commit(() => completed.push(n));
      reader.read((type, bytes, index, length) => {
        expect(type).toBe(1);
        expect(length).toBe(RECORD);
        read.push(new DataView(bytes.buffer, index, 4).getUint32(0));
        expect(bytes[index + length - 1]).toBe(read.at(-1)! & 0xff);
      }, 100);
      reader.complete(DURABLE_OK, 0, n);
      reader.publish();
      writer.poll();
    }
    expect(read).toEqual([...Array(300).keys()]);
    expect(completed).toEqual([...Array(300).keys()]);
    // Nothing written past the first record that starts beyond REWIND_INDEX.
    expect(highest).toBeLessThanOrEqual(REWIND_INDEX + RECORD + 2 * RecordDescriptor.HEADER_LENGTH);
  });

  it('does not rewind while records are unread: a burst fills the whole ring, in order', () => {
    const storage = createRingStorage(4 << 20, 1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    let written = 0;
    let highest = 0;
    for (;;) {
      const at = writer.tryClaim(1, RECORD);
      if (at === FULL) break;
      highest = Math.max(highest, at - DATA_OFFSET + RECORD);
      writer.bytes.set(payload(written), at);
      writer.commit();
      written++;
    }
    expect(written).toBe(Math.floor((4 << 20) / (RECORD + 8)));
    expect(highest).toBeGreaterThan(4 << 19);
    const read: number[] = [];
    reader.read((_t, bytes, index) => read.push(new DataView(bytes.buffer, index, 4).getUint32(0)), 1 << 30);
    expect(read).toEqual([...Array(written).keys()]);
    // Empty again and past REWIND_INDEX: the next record goes to the start of the ring.
    expect(writer.tryClaim(1, RECORD)).toBe(DATA_OFFSET + RecordDescriptor.HEADER_LENGTH);
  });

  it('never rewinds a ring of REWIND_INDEX bytes or less: records go round it as before', () => {
    const storage = createRingStorage(REWIND_INDEX, 1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    const starts = new Set<number>();
    for (let n = 0; n < 40; n++) {
      const at = writer.tryClaim(1, RECORD);
      starts.add(at);
      writer.bytes.set(payload(n), at);
      writer.commit();
      reader.read(() => {}, 100);
    }
    // 40 records of 60 kB in a 1 MiB ring: round it twice, using every one of the 17
    // places a lap has, up to the end of the ring.
    expect(starts.size).toBe(Math.floor(REWIND_INDEX / (RECORD + 8)));
    expect(Math.max(...starts) - DATA_OFFSET + RECORD).toBeGreaterThan(REWIND_INDEX - RECORD);
  });
});
