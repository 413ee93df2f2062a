import { describe, expect, it } from 'vitest';
import {
  DATA_OFFSET,
  DURABLE,
  HEAD,
  TAIL,
  RecordDescriptor,
  maxRecordLength,
  DURABLE_FAILED,
  DURABLE_OK,
} from '../../src/ring/ring-descriptor.ts';
import { createRingStorage, type RingStorage } from '../../src/ring/ring-storage.ts';
import { FULL, RingWriter } from '../../src/ring/ring-writer.ts';
import { RingReader } from '../../src/ring/ring-reader.ts';
import { readRingCounters } from '../../src/ring/ring-counters.ts';

type Read = { type: number; payload: number[] };

function drain(reader: RingReader, limit = 1 << 30): Read[] {
  const out: Read[] = [];
  reader.read((type, bytes, index, length) => {
    out.push({ type, payload: Array.from(bytes.subarray(index, index + length)) });
  }, limit);
  return out;
}

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

/** Puts every position of a fresh ring at `start`, as if that many bytes/records had passed. */
function startAt(storage: RingStorage, start: number): void {
  const words = new Int32Array(storage.buffer);
  words[TAIL] = start;
  words[HEAD] = start;
  words[DURABLE] = start;
}

describe('framing', () => {
  it('reads back records with their type and exact payload, in order', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    expect(writer.tryWrite(3, Uint8Array.of(1, 2, 3))).toBe(true);
    expect(writer.tryWrite(7, new Uint8Array(0))).toBe(true);
    expect(writer.tryWrite(5, bytes(17, 9))).toBe(true);
    expect(drain(reader)).toEqual([
      { type: 3, payload: [1, 2, 3] },
      { type: 7, payload: [] },
      { type: 5, payload: Array(17).fill(9) },
    ]);
  });

  it('aligns every record to 8 bytes: header length counts header and payload only', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    writer.tryWrite(1, bytes(3, 1));
    writer.tryWrite(1, bytes(8, 2));
    const words = new Int32Array(storage.buffer);
    expect(words[TAIL]).toBe(16 + 16);
    expect(words[DATA_OFFSET >> 2]).toBe(11); // 8 header + 3 payload
    expect(words[(DATA_OFFSET + 16) >> 2]).toBe(16);
  });

  it('pins the order of stores: a claim publishes nothing, commit makes the record visible', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    const words = new Int32Array(storage.buffer);
    const index = writer.tryClaim(4, 5);
    expect(index).toBe(DATA_OFFSET + RecordDescriptor.HEADER_LENGTH);
    writer.bytes.set([1, 2, 3, 4, 5], index);
    // Claimed and filled, not committed: tail and header untouched, reader sees nothing.
    expect(words[TAIL]).toBe(0);
    expect(words[DATA_OFFSET >> 2]).toBe(0);
    expect(reader.hasRecords()).toBe(false);
    expect(drain(reader)).toEqual([]);
    writer.commit();
    expect(words[DATA_OFFSET >> 2]).toBe(13);
    expect(words[TAIL]).toBe(16);
    expect(drain(reader)).toEqual([{ type: 4, payload: [1, 2, 3, 4, 5] }]);
    // The read pass freed the space with one store of HEAD.
    expect(words[HEAD]).toBe(16);
  });

  it('reads at most `limit` records per pass and leaves the rest', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    for (let i = 0; i < 5; i++) writer.tryWrite(1, Uint8Array.of(i));
    expect(drain(reader, 2).map((r) => r.payload[0])).toEqual([0, 1]);
    expect(drain(reader, 10).map((r) => r.payload[0])).toEqual([2, 3, 4]);
  });
});

describe('empty, full and oversize', () => {
  it('an empty ring reads nothing', () => {
    const reader = new RingReader(createRingStorage(1024));
    expect(reader.hasRecords()).toBe(false);
    expect(drain(reader)).toEqual([]);
  });

  it('a writer facing a full ring gets FULL at once, and room again after a read', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    // 128-byte records (8 header + 120 payload): 8 fill the 1024-byte ring exactly.
    for (let i = 0; i < 8; i++) expect(writer.tryWrite(1, bytes(120, i))).toBe(true);
    expect(writer.tryClaim(1, 1)).toBe(FULL);
    expect(writer.tryWrite(1, bytes(120, 8))).toBe(false);
    expect(readRingCounters(storage).refusedFull).toBe(2);
    expect(drain(reader, 1)).toHaveLength(1);
    expect(writer.tryWrite(1, bytes(120, 8))).toBe(true);
    expect(drain(reader).map((r) => r.payload[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('refuses a record over capacity / 8 with a RangeError naming the limit', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    expect(writer.maxPayload).toBe(maxRecordLength(1024) - 8);
    expect(writer.tryWrite(1, bytes(writer.maxPayload, 1))).toBe(true);
    expect(() => writer.tryWrite(1, bytes(writer.maxPayload + 1, 1))).toThrow(/exceeds the maximum payload of 120 bytes/);
  });

  it('counts records in flight against the completion slots and refuses past them', () => {
    const storage = createRingStorage(1024, 4);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    for (let i = 0; i < 4; i++) expect(writer.tryWrite(1, Uint8Array.of(i))).toBe(true);
    drain(reader);
    // Ring bytes are free, but four records still await completion.
    expect(writer.tryWrite(1, Uint8Array.of(4))).toBe(false);
    reader.complete(DURABLE_OK, 0, 0);
    reader.publish();
    expect(writer.tryWrite(1, Uint8Array.of(4))).toBe(true);
    expect(writer.inFlight).toBe(4);
  });

  it('rejects a capacity that is not a power of two', () => {
    expect(() => createRingStorage(1000)).toThrow(/power of two/);
  });
});

describe('wrap-around', () => {
  it('pads to the end of the data region and starts the record at index 0', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    const words = new Int32Array(storage.buffer);
    // Move to index 1000: 125 records of 8 header bytes each, read away.
    for (let i = 0; i < 125; i++) writer.tryWrite(1, new Uint8Array(0));
    expect(drain(reader)).toHaveLength(125);
    expect(writer.tryWrite(2, bytes(30, 7))).toBe(true);
    // Padding record of the 24 bytes left at index 1000, then the record at index 0.
    expect(words[(DATA_OFFSET + 1000) >> 2]).toBe(24);
    expect(words[((DATA_OFFSET + 1000) >> 2) + 1]).toBe(RecordDescriptor.PADDING_TYPE);
    expect(words[DATA_OFFSET >> 2]).toBe(38);
    expect(words[TAIL]).toBe(1000 + 24 + 40);
    expect(drain(reader)).toEqual([{ type: 2, payload: Array(30).fill(7) }]);
  });

  it('counts the padding against free space: FULL when padding plus record do not fit', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    for (let i = 0; i < 124; i++) writer.tryWrite(1, new Uint8Array(0)); // tail at 992
    drain(reader, 2); // head at 16: 32 bytes at the end + 16 at the start are free
    expect(writer.tryWrite(1, bytes(25, 1))).toBe(false); // needs 32 padding + 40
    expect(writer.tryWrite(1, bytes(0, 1))).toBe(true); // 8 at the end fits
  });

  it('works with int32 positions wrapping past 2^31', () => {
    const storage = createRingStorage(1024);
    const start = 2 ** 31 - 200; // positions cross 2^31 (int32 overflow) within this test
    startAt(storage, start | 0);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    const seen: number[] = [];
    let callbacks = 0;
    for (let round = 0; round < 300; round++) {
      const payload = bytes(1 + (round % 50), round & 0xff);
      expect(writer.tryWrite(1, payload, () => callbacks++)).toBe(true);
      reader.read((type, b, index, length) => {
        expect(length).toBe(1 + (round % 50));
        seen.push(b[index]);
        reader.complete(DURABLE_OK, 0, round);
      }, 10);
      reader.publish();
      writer.poll();
    }
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i & 0xff));
    expect(callbacks).toBe(300);
    const words = new Int32Array(storage.buffer);
    expect(words[TAIL]).toBeLessThan(0); // really wrapped
    expect(words[DURABLE]).toBe(((start | 0) + 300) | 0);
  });
});

describe('durable cursor, single thread', () => {
  it('runs callbacks in write order with status, partition and offset', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    const got: number[][] = [];
    for (let i = 0; i < 3; i++) writer.tryWrite(1, Uint8Array.of(i), (s, p, o) => got.push([i, s, p, o]));
    drain(reader);
    reader.complete(DURABLE_OK, 2, 40);
    reader.complete(DURABLE_FAILED, 3, -1);
    // Recorded but not published: the writer sees nothing yet.
    expect(writer.poll()).toBe(0);
    reader.publish();
    expect(writer.poll()).toBe(2);
    reader.complete(DURABLE_OK, 2, 41);
    reader.publish();
    writer.poll();
    expect(got).toEqual([
      [0, DURABLE_OK, 2, 40],
      [1, DURABLE_FAILED, 3, -1],
      [2, DURABLE_OK, 2, 41],
    ]);
    expect(writer.inFlight).toBe(0);
  });

  it('offsets survive as float64 beyond 2^32', () => {
    const storage = createRingStorage(1024);
    const writer = new RingWriter(storage);
    const reader = new RingReader(storage);
    let offset = 0;
    writer.tryWrite(1, Uint8Array.of(1), (_s, _p, o) => (offset = o));
    drain(reader);
    reader.complete(DURABLE_OK, 0, 2 ** 40 + 3);
    reader.publish();
    writer.poll();
    expect(offset).toBe(2 ** 40 + 3);
  });
});
