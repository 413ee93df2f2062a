/**
 * Turns stored bytes into a ConsumedRecord, exactly as the plain reader does: key as
 * UTF-8, value decoded by content type, undecodable values kept raw with the reason.
 */
import { Unpackr } from 'msgpackr';
import type { Options } from 'msgpackr';
import { checkPlainMsgpack } from '../records/plain-msgpack.ts';
import { parseLineProtocol } from '../protocols/influx-line.ts';
import { rawInfluxPrecision } from '../protocols/influx.ts';
import { decodeOtlp } from '../protocols/otlp.ts';
import { OtlpEmitter } from '../protocols/otlp-emit.ts';
import { decodeRemoteWrite } from '../protocols/remote-write.ts';
import { createRecordEncoder } from '../records/record-encoder.ts';
import { snappyBlockDecode } from '../workers/content-encoding.ts';
import { CONTENT_TYPE_NAMES, ContentType } from '../sink/sink.ts';
import type { ConsumedRecord } from './plain-reader.ts';

/** Largest decompressed remote_write body a consumer inflates (the frame limit). */
const MAX_RAW_DECODED = 16 * 1024 * 1024;

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
 * becomes a record with a valueError, reported and skipped. Raw records (--value-format
 * raw: remote_write, Influx, OTLP bodies as received) are decoded with the gateway's own
 * protocol decoders into the same record format `{"metrics":[...]}`; `timestamp` (the
 * record's) stamps Influx lines that carry none, as the gateway would.
 */
export function decodeValue(contentType: number, value: Uint8Array, timestamp = Date.now()): unknown {
  if (contentType === ContentType.msgpack) {
    checkPlainMsgpack(value, MAX_DEPTH);
    return unpackr.unpack(value);
  }
  if (contentType === ContentType.json) return JSON.parse(utf8.decode(value));
  if (contentType === ContentType.remoteWriteV1 || contentType === ContentType.remoteWriteV2) {
    const enc = createRecordEncoder('json');
    decodeRemoteWrite(contentType === ContentType.remoteWriteV2 ? 2 : 1, snappyBlockDecode(value, MAX_RAW_DECODED), enc);
    return JSON.parse(utf8.decode(enc.finish()));
  }
  if (contentType === ContentType.otlpProtobuf || contentType === ContentType.otlpJson) {
    const enc = createRecordEncoder('msgpack');
    decodeOtlp(value, contentType === ContentType.otlpJson, new OtlpEmitter(enc));
    return unpackr.unpack(enc.finish());
  }
  const precision = rawInfluxPrecision(contentType);
  if (precision !== undefined) {
    const enc = createRecordEncoder('msgpack');
    parseLineProtocol(value, precision, timestamp, enc);
    return unpackr.unpack(enc.finish());
  }
  throw new Error(`unknown content type ${contentType}`);
}

/** The protocol a raw record came in (CONTENT_TYPE_NAMES), undefined for msgpack/JSON records. */
export function rawFormatName(contentType: number): string | undefined {
  return contentType === ContentType.msgpack || contentType === ContentType.json ? undefined : CONTENT_TYPE_NAMES[contentType];
}

/**
 * A ConsumedRecord from a record's parts; never throws (a bad value sets valueError). With
 * `deferMsgpack`, a msgpack value is left undecoded in `encoded` (see materialize()).
 */
export function toConsumedRecord(
  partition: number,
  offset: number,
  key: Uint8Array,
  timestamp: number,
  contentType: number,
  value: Uint8Array,
  deferMsgpack = false,
): ConsumedRecord {
  const rec: ConsumedRecord = { partition, offset, key: utf8.decode(key), timestamp, value: undefined, contentType };
  if (deferMsgpack && contentType === ContentType.msgpack) {
    rec.encoded = value;
    return rec;
  }
  const raw = rawFormatName(contentType);
  if (raw !== undefined) rec.format = raw;
  try {
    rec.value = decodeValue(contentType, value, timestamp);
  } catch (err) {
    rec.valueError = (err as Error).message;
    rec.rawValue = value;
  }
  return rec;
}

/** Decodes a record left undecoded by deferMsgpack (as toConsumedRecord would have); no-op otherwise. */
export function materialize(rec: ConsumedRecord): ConsumedRecord {
  const bytes = rec.encoded;
  if (bytes === undefined) return rec;
  delete rec.encoded;
  try {
    rec.value = decodeValue(rec.contentType, bytes, rec.timestamp);
  } catch (err) {
    rec.valueError = (err as Error).message;
    rec.rawValue = bytes;
  }
  return rec;
}
