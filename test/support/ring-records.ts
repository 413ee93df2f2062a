/**
 * Writing records into a ring the way an HTTP worker does (one payload per request,
 * claimed, written, committed), for the owner's tests.
 */
import { expect } from 'vitest';
import { payloadLength, writePayload } from '../../src/records/ring-payload.ts';
import type { RingWriter } from '../../src/ring/ring-writer.ts';
import { ContentType } from '../../src/sink/sink.ts';

/** Publishes `n` records into `writer`'s ring, record i with make(i)'s key and value. */
export function publishRecords(writer: RingWriter, n: number, make: (i: number) => { key: Buffer; value: Buffer }): void {
  const view = new DataView(writer.bytes.buffer);
  for (let i = 0; i < n; i++) {
    const { key, value } = make(i);
    const index = writer.tryClaim(ContentType.json, payloadLength(key.length, value.length));
    expect(index).toBeGreaterThanOrEqual(0);
    writePayload(writer.bytes, view, index, 1_700_000_000_000, 0, key, value);
    writer.commit();
  }
}
