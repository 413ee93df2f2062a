/**
 * A linear pre-check that a body is plain MessagePack (the spec's types only) before any
 * decoder sees it. msgpackr, which the gateway uses to decode, also understands its own
 * extensions on input: record structures, the structured-clone id/pointer extensions
 * (0x69/0x70) that let a small body reference one object thousands of times, timestamps,
 * Sets, RegExps, Errors, typed arrays. None of them is plain MessagePack, and the pointer
 * ones make work and memory grow far beyond the body's bytes. This check refuses:
 *
 * - any ext type (fixext 0xd4-0xd8, ext 0xc7-0xc9) and the never-used byte 0xc1;
 * - map keys that are not strings;
 * - strings that are not valid UTF-8;
 * - nesting deeper than `maxDepth`;
 * - truncated input and bytes after the first value.
 *
 * Every element consumes at least one byte of the body and is visited once, so the check
 * and the decode after it cost what the body's bytes cost; a declared count larger than
 * what the body holds fails as truncated before any decoder allocates for it.
 */
import { isUtf8 } from 'node:buffer';

/** Not plain MessagePack: the message names the byte offset and the reason. */
export class NotPlainMsgpack extends Error {
  override name = 'NotPlainMsgpack';
}

/** Throws NotPlainMsgpack unless `buf` is exactly one plain MessagePack value. */
export function checkPlainMsgpack(buf: Uint8Array, maxDepth: number): void {
  // Per open container: items still to read (maps count keys and values), and whether
  // it is a map (then even positions are keys).
  const remaining: number[] = [];
  const isMap: boolean[] = [];
  let pos = 0;
  const end = buf.length;
  const need = (n: number, at: number) => {
    if (pos + n > end) throw new NotPlainMsgpack(`msgpack body truncated at byte ${at}`);
  };
  const u16 = () => (buf[pos] << 8) | buf[pos + 1];
  const u32 = () => buf[pos] * 0x1000000 + ((buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]);
  let values = 0;
  do {
    const at = pos;
    need(1, at);
    const depth = remaining.length;
    const expectKey = depth > 0 && isMap[depth - 1] && (remaining[depth - 1] & 1) === 0;
    const b = buf[pos++];
    let strLength = -1;
    let container = -1;
    let map = false;
    if (b <= 0x7f || b >= 0xe0) {
      // positive / negative fixint
    } else if (b <= 0x8f) {
      container = (b & 0x0f) * 2;
      map = true;
    } else if (b <= 0x9f) container = b & 0x0f;
    else if (b <= 0xbf) strLength = b & 0x1f;
    else {
      switch (b) {
        case 0xc0: case 0xc2: case 0xc3:
          break;
        case 0xc4: need(1, at); pos += 1 + buf[pos]; break;
        case 0xc5: need(2, at); pos += 2 + u16(); break;
        case 0xc6: need(4, at); pos += 4 + u32(); break;
        case 0xca: pos += 4; break;
        case 0xcb: pos += 8; break;
        case 0xcc: case 0xd0: pos += 1; break;
        case 0xcd: case 0xd1: pos += 2; break;
        case 0xce: case 0xd2: pos += 4; break;
        case 0xcf: case 0xd3: pos += 8; break;
        case 0xd9: need(1, at); strLength = buf[pos]; pos += 1; break;
        case 0xda: need(2, at); strLength = u16(); pos += 2; break;
        case 0xdb: need(4, at); strLength = u32(); pos += 4; break;
        case 0xdc: need(2, at); container = u16(); pos += 2; break;
        case 0xdd: need(4, at); container = u32(); pos += 4; break;
        case 0xde: need(2, at); container = u16() * 2; map = true; pos += 2; break;
        case 0xdf: need(4, at); container = u32() * 2; map = true; pos += 4; break;
        case 0xc1:
          throw new NotPlainMsgpack(`byte 0xc1 at ${at} is never used in MessagePack`);
        default:
          // 0xc7-0xc9 ext 8/16/32, 0xd4-0xd8 fixext: msgpackr's records, pointers,
          // timestamps, sets, regexps... and any application extension.
          throw new NotPlainMsgpack(`MessagePack extension type at byte ${at}: only plain MessagePack is accepted (no ext types)`);
      }
    }
    if (pos > end) throw new NotPlainMsgpack(`msgpack body truncated at byte ${at}`);
    if (strLength >= 0) {
      need(strLength, at);
      // ASCII (most metric names and tags) is checked inline; a native call per string
      // cost more than the whole decode.
      let ascii = true;
      for (let i = pos, stop = pos + strLength; i < stop; i++) {
        if (buf[i] >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (!ascii && !isUtf8(buf.subarray(pos, pos + strLength))) throw new NotPlainMsgpack(`string at byte ${at} is not valid UTF-8`);
      pos += strLength;
    } else if (expectKey) {
      throw new NotPlainMsgpack(`map key at byte ${at} is not a string`);
    }
    // This element is read: count it off its container, then open its own if any.
    if (depth > 0) remaining[depth - 1]--;
    else values++;
    if (container > 0) {
      if (depth + 1 > maxDepth) throw new NotPlainMsgpack(`msgpack nested deeper than ${maxDepth} levels at byte ${at}`);
      // Each element takes at least one byte: a count the rest cannot hold is truncated.
      if (container > end - pos) throw new NotPlainMsgpack(`msgpack body truncated at byte ${at}`);
      remaining.push(container);
      isMap.push(map);
    }
    while (remaining.length > 0 && remaining[remaining.length - 1] === 0) {
      remaining.pop();
      isMap.pop();
    }
  } while (remaining.length > 0 || values === 0);
  if (pos !== end) throw new NotPlainMsgpack(`${end - pos} byte(s) after the msgpack value, at byte ${pos}`);
}
