/**
 * A msgpack record as data in which order counts: maps become [key, value] lists, so that
 * a comparison sees the order of an entry's fields and tags as well as their values (a
 * decoded object or Map would not).
 */
import { Unpackr } from 'msgpackr';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false });

export function orderedMsgpack(bytes: Uint8Array): unknown {
  return ordered(unpackr.unpack(bytes));
}

function ordered(v: unknown): unknown {
  if (v instanceof Map) return [...v].map(([k, x]) => [k, ordered(x)]);
  if (Array.isArray(v)) return v.map(ordered);
  return v;
}
