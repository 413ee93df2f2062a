/**
 * Encodes kafkajs's Produce requests (v3 to v7, whose record sets are RecordBatch v2) in
 * one pass into one buffer, in place of kafkajs's own encoder, for uncompressed batches.
 *
 * Why: the owner thread runs kafkajs's encoder, and it builds an Encoder object, a Long and
 * several small Buffers per record, then a CRC32C byte by byte in JavaScript: 13 µs per
 * 65 B record and 141 µs per 5.6 KB record (a 100-metric body) on this loaded machine
 * (`npm run bench:kafka-sink -- --encode-only`), during which no ring is drained. Here a
 * first pass sizes the request, a second writes it into one allocation, and the CRC32C is
 * native (@node-rs/crc32): 0.85 and 6.4 µs.
 *
 * The bytes are the ones kafkajs writes (test/kafka/produce-encoder.test.ts compares them):
 * same request layout, same record batch header, producer id, epoch and sequence (what the
 * idempotent producer relies on), same varints, same header order. One deliberate
 * difference: the batch's first and max timestamps are the numeric min and max of the
 * records' timestamps; kafkajs sorts them as strings, which agrees for every timestamp of
 * the same number of digits (all of them since 2001).
 *
 * Anything outside the shapes the gateway sends goes to kafkajs's own encoder unchanged:
 * compression (kafkajs compresses the encoded records, through our codec pool), keys or
 * values that are neither a Buffer, a string nor null, array or missing header values,
 * timestamps that are not whole numbers of ms.
 */
import { createRequire } from 'node:module';
import { crc32c } from '@node-rs/crc32';
import { RequestBufferPool } from './request-buffers.ts';

const require = createRequire(import.meta.url);

type Bytes = Buffer | string | null | undefined;

/** A message as kafkajs hands it to the Produce request (after partitioning). */
export interface ProduceMessage {
  key?: Bytes;
  value: Bytes;
  headers?: Record<string, unknown>;
  timestamp?: string | number | null;
}

/** The arguments kafkajs passes to a Produce request of version 3 to 7. */
export interface ProduceArgs {
  acks: number;
  timeout: number;
  compression?: number;
  transactionalId?: string | null;
  /** A kafkajs Long (BigInt inside), a number or a string. */
  producerId?: unknown;
  producerEpoch?: number;
  topicData: { topic: string; partitions: { partition: number; firstSequence?: number; messages: ProduceMessage[] }[] }[];
}

interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
}

type RequestFactory = (args: ProduceArgs) => { request: { encode: () => Promise<unknown> }; response: { decode: (payload: Buffer) => Promise<unknown> } };

const Encoder = require('kafkajs/src/protocol/encoder') as new (initialSize?: number) => KafkajsEncoder;
const Long = require('kafkajs/src/utils/long') as { fromValue(v: unknown): { value: bigint } };
const produceDefinitions = require('kafkajs/src/protocol/requests/produce/index.js') as {
  protocol: (v: { version: number }) => RequestFactory;
};

const MAGIC = 2;
const TRANSACTIONAL = 16;
/** baseOffset, batchLength, partitionLeaderEpoch, magic, crc. */
const BATCH_PREFIX = 8 + 4 + 4 + 1 + 4;
/** attributes .. record count: what the CRC covers before the records. */
const BATCH_HEADER = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

/** Bytes of an unsigned varint. */
function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Zig-zag of a safe integer, as a non-negative number (64-bit semantics). */
function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

function writeUVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 128) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/** Length of a Buffer or string as kafkajs writes it; -1 for null. */
function bytesLength(b: Bytes): number {
  if (b === null || b === undefined) return -1;
  return typeof b === 'string' ? Buffer.byteLength(b, 'utf8') : b.length;
}

function writeBytes(buf: Buffer, pos: number, b: Bytes, len: number): number {
  pos = writeUVarint(buf, pos, zigzag(len));
  if (len <= 0) return pos;
  if (typeof b === 'string') return pos + buf.write(b, pos, 'utf8');
  (b as Buffer).copy(buf, pos);
  return pos + len;
}

function isBytes(b: unknown): b is Bytes {
  return b === null || b === undefined || typeof b === 'string' || Buffer.isBuffer(b);
}

/** A record's timestamp in ms, or NaN when it is not one we encode (then kafkajs does). */
function timestampOf(m: ProduceMessage): number {
  const t = m.timestamp;
  const n = typeof t === 'string' ? Number(t) : typeof t === 'number' ? t : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : NaN;
}

/** Per-record sizes and timestamps, computed once and used by both passes. */
interface PartitionPlan {
  partition: number;
  firstSequence: number;
  messages: ProduceMessage[];
  first: number;
  max: number;
  /** Per record (STRIDE slots): key length, value length, header count, body size, timestamp. */
  fields: Float64Array;
  /** The whole RecordBatch, baseOffset included. */
  batchBytes: number;
}

const STRIDE = 5;

/**
 * Plans one partition's batch; undefined when a message is not of a shape this encoder
 * writes exactly like kafkajs.
 */
function plan(partition: number, firstSequence: number | undefined, messages: ProduceMessage[]): PartitionPlan | undefined {
  const n = messages.length;
  const fields = new Float64Array(n * STRIDE);
  let first = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const t = timestampOf(messages[i]);
    if (Number.isNaN(t)) return undefined;
    fields[i * STRIDE + 4] = t;
    if (t < first) first = t;
    if (t > max) max = t;
  }
  if (n === 0) first = max = Date.now();
  let records = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i];
    if (!isBytes(m.key) || !isBytes(m.value)) return undefined;
    const keyLen = bytesLength(m.key);
    const valueLen = bytesLength(m.value);
    let headerBytes = 0;
    let headerCount = 0;
    if (m.headers !== undefined && m.headers !== null) {
      for (const hk in m.headers) {
        const hv = m.headers[hk];
        if (!(typeof hv === 'string' || Buffer.isBuffer(hv))) return undefined;
        const kl = Buffer.byteLength(hk, 'utf8');
        const vl = bytesLength(hv);
        headerBytes += uvarintSize(zigzag(kl)) + kl + uvarintSize(zigzag(vl)) + vl;
        headerCount++;
      }
    }
    headerBytes += uvarintSize(zigzag(headerCount));
    const body =
      1 +
      uvarintSize(zigzag(fields[i * STRIDE + 4] - first)) +
      uvarintSize(zigzag(i)) +
      uvarintSize(zigzag(keyLen)) + Math.max(0, keyLen) +
      uvarintSize(zigzag(valueLen)) + Math.max(0, valueLen) +
      headerBytes;
    fields[i * STRIDE] = keyLen;
    fields[i * STRIDE + 1] = valueLen;
    fields[i * STRIDE + 2] = headerCount;
    fields[i * STRIDE + 3] = body;
    records += uvarintSize(zigzag(body)) + body;
  }
  return { partition, firstSequence: firstSequence ?? 0, messages, first, max, fields, batchBytes: BATCH_PREFIX + BATCH_HEADER + records };
}

/**
 * The Produce request body (what kafkajs's `encode()` returns, before the request header),
 * or undefined when this batch is not one this encoder takes (see the module comment).
 * With `room`, the returned buffer starts with that many bytes left free (for the request
 * header, see installProduceEncoder) and the body follows them.
 */
export function encodeProduceRequest(args: ProduceArgs, room = 0, allocate: (size: number) => Buffer = Buffer.allocUnsafe): Buffer | undefined {
  if ((args.compression ?? 0) !== 0) return undefined;
  const transactionalId = args.transactionalId ?? null;
  const producerId = Long.fromValue(args.producerId ?? -1).value;
  const producerEpoch = args.producerEpoch ?? 0;
  const attributes = transactionalId ? TRANSACTIONAL : 0;

  let size = 2 + (transactionalId === null ? 0 : Buffer.byteLength(transactionalId, 'utf8')) + 2 + 4 + 4;
  const topics: { topic: string; plans: PartitionPlan[] }[] = [];
  for (const t of args.topicData) {
    const plans: PartitionPlan[] = [];
    size += 2 + Buffer.byteLength(t.topic, 'utf8') + 4;
    for (const p of t.partitions) {
      const pl = plan(p.partition, p.firstSequence, p.messages);
      if (pl === undefined) return undefined;
      plans.push(pl);
      size += 4 + 4 + pl.batchBytes;
    }
    topics.push({ topic: t.topic, plans });
  }

  const buf = allocate(room + size);
  let pos = room;
  if (transactionalId === null) {
    pos = buf.writeInt16BE(-1, pos);
  } else {
    pos = buf.writeInt16BE(Buffer.byteLength(transactionalId, 'utf8'), pos);
    pos += buf.write(transactionalId, pos, 'utf8');
  }
  pos = buf.writeInt16BE(args.acks, pos);
  pos = buf.writeInt32BE(args.timeout, pos);
  pos = buf.writeInt32BE(topics.length, pos);
  for (const { topic, plans } of topics) {
    pos = buf.writeInt16BE(Buffer.byteLength(topic, 'utf8'), pos);
    pos += buf.write(topic, pos, 'utf8');
    pos = buf.writeInt32BE(plans.length, pos);
    for (const pl of plans) {
      pos = buf.writeInt32BE(pl.partition, pos);
      pos = buf.writeInt32BE(pl.batchBytes, pos);
      pos = buf.writeBigInt64BE(0n, pos); // baseOffset
      pos = buf.writeInt32BE(pl.batchBytes - 12, pos); // batchLength: what follows it
      pos = buf.writeInt32BE(0, pos); // partitionLeaderEpoch
      pos = buf.writeInt8(MAGIC, pos);
      const crcAt = pos;
      pos += 4;
      const crcFrom = pos;
      const n = pl.messages.length;
      pos = buf.writeInt16BE(attributes, pos);
      pos = buf.writeInt32BE(n - 1, pos); // lastOffsetDelta
      pos = buf.writeBigInt64BE(BigInt(pl.first), pos);
      pos = buf.writeBigInt64BE(BigInt(pl.max), pos);
      pos = buf.writeBigInt64BE(BigInt.asIntN(64, producerId), pos);
      pos = buf.writeInt16BE(producerEpoch, pos);
      pos = buf.writeInt32BE(pl.firstSequence, pos);
      pos = buf.writeInt32BE(n, pos);
      const f = pl.fields;
      for (let i = 0, o = 0; i < n; i++, o += STRIDE) {
        const m = pl.messages[i];
        pos = writeUVarint(buf, pos, zigzag(f[o + 3]));
        buf[pos++] = 0; // record attributes
        pos = writeUVarint(buf, pos, zigzag(f[o + 4] - pl.first));
        pos = writeUVarint(buf, pos, zigzag(i));
        pos = writeBytes(buf, pos, m.key, f[o]);
        pos = writeBytes(buf, pos, m.value, f[o + 1]);
        pos = writeUVarint(buf, pos, zigzag(f[o + 2]));
        if (f[o + 2] > 0) {
          for (const hk in m.headers!) {
            const hv = m.headers![hk] as Bytes;
            pos = writeBytes(buf, pos, hk, Buffer.byteLength(hk, 'utf8'));
            pos = writeBytes(buf, pos, hv, bytesLength(hv));
          }
        }
      }
      buf.writeUInt32BE(crc32c(buf.subarray(crcFrom, pos)) >>> 0, crcAt);
    }
  }
  if (pos !== room + size) throw new Error(`produce encoder: wrote ${pos - room} bytes, planned ${size}`);
  return buf;
}

/**
 * Bytes left free in front of each Produce body: kafkajs's request header (api key,
 * version, correlation id, client id) and size prefix are written there instead of the
 * body being copied behind them.
 */
const HEADER_ROOM = 256;
const ROOM = Symbol('metricstream.kafka.headerRoom');

/** A kafkajs Encoder whose bytes sit at `start` in `backing`, with free bytes before them. */
interface RoomyEncoder extends KafkajsEncoder {
  [ROOM]?: { backing: Buffer; start: number };
}

let installed = false;

/** This thread's Produce request buffers (the owner's: only it runs kafkajs). */
export const requestBuffers = new RequestBufferPool();

/**
 * Makes kafkajs use encodeProduceRequest for Produce v3 to v7 in this process (the owner
 * thread's kafkajs, whichever producer). Idempotent; requests it does not take keep
 * kafkajs's encoder.
 *
 * It also frames those requests in place. kafkajs wraps a request body in two fresh
 * Encoders (header, then size prefix: protocol/request.js), each grown to the next power
 * of two with a zero-filled Buffer.alloc and the body copied in: for a body of N bytes,
 * up to 4N more bytes outside V8's heap per request, which V8 collects with full
 * mark-compacts of the owner thread (42 in 10 s at 100 metrics per request; see
 * src/records/payload-slabs.ts). Our body leaves HEADER_ROOM free bytes in front, and
 * Encoder#writeEncoder, given such a body, writes the header before it and adopts the
 * buffer instead: one allocation per request, no copy. Any other writeEncoder call, or a
 * header longer than the room (a client id over 240 bytes), takes kafkajs's own path.
 */
export function installProduceEncoder(): void {
  if (installed) return;
  installed = true;
  const original = produceDefinitions.protocol;
  produceDefinitions.protocol = ({ version }) => {
    const make = original({ version });
    if (version < 3 || version > 7) return make;
    return (args) => {
      const built = make(args);
      const kafkajsEncode = built.request.encode;
      /** This request's pooled buffer, from encode() until its response arrives. */
      let backing: Buffer | undefined;
      built.request.encode = async () => {
        const framed = encodeProduceRequest(args, HEADER_ROOM, (size) => {
          const taken = requestBuffers.take(size);
          backing = taken.backing;
          return taken.bytes;
        });
        if (framed === undefined) return kafkajsEncode();
        const e = new Encoder(0) as RoomyEncoder;
        e.buf = framed.subarray(HEADER_ROOM);
        e.offset = e.buf.length;
        e[ROOM] = { backing: framed, start: HEADER_ROOM };
        return e;
      };
      // The response means the broker read the whole request: its bytes are free again.
      // kafkajs shares one response object among every request of a version, and its
      // send() takes it before encoding: each request gets its own, here.
      const shared = built.response;
      built.response = {
        ...shared,
        decode: (payload) => {
          if (backing !== undefined) requestBuffers.give(backing);
          backing = undefined;
          return shared.decode(payload);
        },
      };
      return built;
    };
  };
  const proto = Encoder.prototype as { writeEncoder(this: RoomyEncoder, value: RoomyEncoder): RoomyEncoder };
  const plainWriteEncoder = proto.writeEncoder;
  proto.writeEncoder = function writeEncoder(this: RoomyEncoder, value: RoomyEncoder): RoomyEncoder {
    const room = value?.[ROOM];
    if (room === undefined || this.offset > room.start) return plainWriteEncoder.call(this, value);
    const start = room.start - this.offset;
    this.buf.copy(room.backing, start, 0, this.offset);
    this.buf = room.backing.subarray(start, room.start + value.offset);
    this.offset = this.buf.length;
    this[ROOM] = { backing: room.backing, start };
    return this;
  };
}
