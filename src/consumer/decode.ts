/**
 * Turns stored bytes into a ConsumedRecord, exactly as the plain reader does: key as
 * UTF-8, value decoded by content type, undecodable values kept raw with the reason.
 */
import { decodeValue } from './plain-reader.ts';
import type { ConsumedRecord } from './plain-reader.ts';

const utf8 = new TextDecoder();

/** A ConsumedRecord from a record's parts; never throws (a bad value sets valueError). */
export function toConsumedRecord(
  partition: number,
  offset: number,
  key: Uint8Array,
  timestamp: number,
  contentType: number,
  value: Uint8Array,
): ConsumedRecord {
  const rec: ConsumedRecord = { partition, offset, key: utf8.decode(key), timestamp, value: undefined, contentType };
  try {
    rec.value = decodeValue(contentType, value);
  } catch (err) {
    rec.valueError = (err as Error).message;
    rec.rawValue = value;
  }
  return rec;
}
