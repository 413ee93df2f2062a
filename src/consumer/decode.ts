/**
 * Turns stored bytes into a ConsumedRecord, exactly as the plain reader does: key as
 * UTF-8, value decoded by content type, undecodable values kept raw with the reason.
 */
import { Unpackr } from 'msgpackr';
import type { Options } from 'msgpackr';
import { checkPlainMsgpack } from '../records/plain-msgpack.ts';
import { ContentType } from '../sink/sink.ts';
import type { ConsumedRecord } from './plain-reader.ts';

// Plain msgpack, as the workers write it: maps become objects, int64 become numbers when
// they fit (BigInt otherwise, which JSON cannot print: see jsonReplacer). msgpackr supports
// int64AsType 'auto' but its typings omit it, hence the cast.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' } as unknown as Options);
const utf8 = new TextDecoder();

/** Deepest nesting a stored msgpack value may have (the gateway stores 4 levels). */
const MAX_DEPTH = 64;

/**
 * Decodes a value by its content type; throws on bytes that do not decode. msgpack must
 * be plain MessagePack (src/records/plain-msgpack.ts): an older gateway stored msgpackr's
 * pointer extensions as sent, and decoding one such record could expand a 150 KB value
 * into millions of objects and crash every consumer that reached it. Refused here, it
 * becomes a record with a valueError, reported and skipped.
 */
export function decodeValue(contentType: number, value: Uint8Array): unknown {
  if (contentType === ContentType.msgpack) {
    checkPlainMsgpack(value, MAX_DEPTH);
    return unpackr.unpack(value);
  }
  if (contentType === ContentType.json) return JSON.parse(utf8.decode(value));
  throw new Error(`unknown content type ${contentType}`);
}

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
