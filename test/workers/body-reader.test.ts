/**
 * BodyReader (src/workers/body-reader.ts) fed the way Node feeds it: 'data' events of any
 * size, then 'end'. A body in one piece is that piece; a body in many (chunked transfer
 * encoding, slow senders) is joined as it comes, byte-exact, and what it holds is counted
 * in the budget: at most twice its bytes, never one entry per piece.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BodyError, BodyReader, InflightBudget, Reservation } from '../../src/workers/body-reader.ts';
import { prng } from '../support/prng.ts';

const LIMITS = { maxBody: 1 << 20, maxDecoded: 4 << 20 };

/** A request that emits `pieces` as its body, then ends; `contentLength` as its header says. */
function fakeRequest(contentLength?: number): IncomingMessage & EventEmitter {
  const req = new EventEmitter() as IncomingMessage & EventEmitter;
  (req as { headers: Record<string, string> }).headers = contentLength === undefined ? {} : { 'content-length': String(contentLength) };
  return req;
}

/** `body` cut at random places: pieces of 1 byte to `maxPiece` bytes. */
function cut(body: Buffer, random: () => number, maxPiece: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    const n = 1 + Math.floor(random() * maxPiece);
    // Node hands over fresh Buffers: copies, not views of the caller's bytes.
    pieces.push(Buffer.from(body.subarray(at, at + n)));
    at += n;
  }
  return pieces;
}

async function read(pieces: Buffer[], encoding: 'identity' | 'gzip', contentLength: number | undefined, budget = new InflightBudget(64 << 20)) {
  const req = fakeRequest(contentLength);
  const reservation = new Reservation(budget);
  const reader = new BodyReader(req, encoding, LIMITS, reservation);
  let most = 0;
  for (const piece of pieces) {
    req.emit('data', piece);
    most = Math.max(most, reservation.bytes);
  }
  req.emit('end');
  return { body: await reader.done, most, reservation };
}

describe('BodyReader', () => {
  it('a body in one piece is that piece, not a copy', async () => {
    const piece = Buffer.from('{"metrics":[]}');
    const { body } = await read([piece], 'identity', piece.length);
    expect(body).toBe(piece);
  });

  it('bodies cut anywhere are joined byte-exact, with or without a Content-Length (seeded)', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const random = prng(seed);
      const size = Math.floor(random() * 300_000);
      const original = Buffer.from(Array.from({ length: size }, () => Math.floor(random() * 256)));
      const maxPiece = [1, 7, 1460, 65_536][seed % 4]!;
      const pieces = cut(original, random, maxPiece);
      for (const declared of [size, undefined]) {
        const { body, most } = await read(pieces, 'identity', declared);
        expect(body.equals(original), `seed ${seed}, pieces up to ${maxPiece}, declared ${declared}`).toBe(true);
        // What it reserved: the buffer it held, at most twice the body (doubling), or 16 KiB.
        expect(most).toBeLessThanOrEqual(Math.max(2 * size, 16 * 1024));
      }
    }
  });

  it('a gzip body cut into 1-byte pieces decodes to its bytes', async () => {
    const text = JSON.stringify({ metrics: Array.from({ length: 200 }, (_, i) => ({ name: `m${i}`, value: i })) });
    const pieces = cut(zlib.gzipSync(text), prng(9), 1);
    const { body } = await read(pieces, 'gzip', undefined);
    expect(body.toString()).toBe(text);
  });

  it('a body of 200,000 1-byte pieces holds one buffer: what it reserves is its bytes, released when answered', async () => {
    const budget = new InflightBudget(64 << 20);
    const original = Buffer.alloc(200_000, 0x20);
    const { body, most, reservation } = await read(cut(original, () => 0, 1), 'identity', undefined, budget);
    expect(body.equals(original)).toBe(true);
    expect(most).toBeLessThanOrEqual(2 * original.length);
    reservation.release();
    expect(budget.used).toBe(0);
  });

  it('past --max-body it is 413, and nothing stays reserved', async () => {
    const budget = new InflightBudget(64 << 20);
    const req = fakeRequest();
    const reservation = new Reservation(budget);
    const reader = new BodyReader(req, 'identity', { maxBody: 1000, maxDecoded: 1000 }, reservation);
    for (let i = 0; i < 1001; i++) req.emit('data', Buffer.from('x'));
    const err = await reader.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyError);
    expect((err as BodyError).status).toBe(413);
    reservation.release();
    expect(budget.used).toBe(0);
  });
});
