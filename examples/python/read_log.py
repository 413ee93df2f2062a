#!/usr/bin/env python3
"""Read a metricstream partition log and print every stored metric, one JSON line each.

    python3 examples/python/read_log.py DATA_DIR

Standard library only. Values stored as MessagePack (the default --value-format) are
decoded with the `msgpack` module when it is installed, else with the small decoder
below; JSON values (--value-format json) with the json module. Raw records
(--value-format raw: the protocol body as received) are printed with their format name
and the body in base64.

Layout (src/log/record-frame.ts, src/log/segment-files.ts, src/log/commit-marks.ts):
  DATA_DIR/partition-N/<20-digit base offset>.log   frames, little-endian:
    u32 length (bytes after this field), u32 crc32 of bytes [8, 4+length),
    u32 offsetLo, u32 offsetHi, f64 timestamp ms, u8 magic (1), u8 content type,
    u16 reserved, u32 keyLength, key, u32 valueLength, value
  DATA_DIR/commit-marks   per partition p at byte 16*p: u32 nextLo, u32 nextHi, u32 crc32
    of those 8 bytes, u32 0. Records at or past `next` are not durable yet: stop there.
"""
import base64
import glob
import json
import math
import os
import struct
import sys
import zlib

RAW_FORMATS = {3: "remote_write 1.0 (snappy protobuf)", 4: "remote_write 2.0 (snappy protobuf)",
               5: "influx line protocol ns", 6: "OTLP protobuf", 7: "OTLP JSON",
               8: "influx line protocol us", 9: "influx line protocol ms", 10: "influx line protocol s"}


def unpackb(data):
    """Plain MessagePack -> Python values (the subset any msgpack writer produces)."""
    try:
        import msgpack  # type: ignore
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except ImportError:
        value, _ = _unpack(data, 0)
        return value


def _unpack(b, i):
    t = b[i]
    if t <= 0x7F: return t, i + 1
    if t >= 0xE0: return t - 0x100, i + 1
    if 0x80 <= t <= 0x8F: return _map(b, i + 1, t & 0x0F)
    if 0x90 <= t <= 0x9F: return _array(b, i + 1, t & 0x0F)
    if 0xA0 <= t <= 0xBF: n = t & 0x1F; return b[i + 1:i + 1 + n].decode(), i + 1 + n
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if t in simple: return simple[t], i + 1
    fixed = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
             0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
    if t in fixed:
        size = struct.calcsize(fixed[t])
        return struct.unpack_from(fixed[t], b, i + 1)[0], i + 1 + size
    sized = {0xD9: (">B", "str"), 0xDA: (">H", "str"), 0xDB: (">I", "str"),
             0xC4: (">B", "bin"), 0xC5: (">H", "bin"), 0xC6: (">I", "bin"),
             0xDC: (">H", "array"), 0xDD: (">I", "array"), 0xDE: (">H", "map"), 0xDF: (">I", "map")}
    if t in sized:
        fmt, kind = sized[t]
        n = struct.unpack_from(fmt, b, i + 1)[0]
        j = i + 1 + struct.calcsize(fmt)
        if kind == "str": return b[j:j + n].decode(), j + n
        if kind == "bin": return bytes(b[j:j + n]), j + n
        return (_array if kind == "array" else _map)(b, j, n)
    raise ValueError("unsupported msgpack type 0x%02x" % t)


def _array(b, i, n):
    out = []
    for _ in range(n):
        v, i = _unpack(b, i)
        out.append(v)
    return out, i


def _map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = _unpack(b, i)
        v, i = _unpack(b, i)
        out[k] = v
    return out, i


def durable_ends(data_dir, partitions):
    """Next offset after the last durable record of each partition (None: no limit known)."""
    ends = [None] * partitions
    try:
        with open(os.path.join(data_dir, "commit-marks"), "rb") as f:
            marks = f.read()
    except FileNotFoundError:
        return ends
    for p in range(partitions):
        slot = marks[16 * p:16 * p + 16]
        if len(slot) == 16:
            lo, hi, crc, _ = struct.unpack("<IIII", slot)
            if zlib.crc32(slot[:8]) == crc:
                ends[p] = hi * 2**32 + lo
    return ends


def frames(path):
    """Every whole, CRC-checked frame of one segment file, in order."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 36 <= len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        size = length + 4
        if size < 36 or pos + size > len(data) or data[pos + 24] != 1:
            return  # preallocated zeros, a torn tail or the end
        if zlib.crc32(data[pos + 8:pos + size]) != crc:
            return
        lo, hi, ts, _magic, ctype, _rsv, klen = struct.unpack_from("<IIdBBHI", data, pos + 8)
        key = data[pos + 32:pos + 32 + klen]
        value = data[pos + 36 + klen:pos + size]
        yield hi * 2**32 + lo, ts, ctype, key.decode(), value
        pos += size


def json_safe(v):
    """NaN and infinities as the strings the JSON value format uses."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
    if isinstance(v, dict): return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list): return [json_safe(x) for x in v]
    return v


def main(data_dir):
    with open(os.path.join(data_dir, "meta.json")) as f:
        partitions = json.load(f)["partitions"]
    ends = durable_ends(data_dir, partitions)
    for p in range(partitions):
        for segment in sorted(glob.glob(os.path.join(data_dir, "partition-%d" % p, "*.log"))):
            for offset, ts, ctype, key, value in frames(segment):
                if ends[p] is not None and offset >= ends[p]:
                    break
                line = {"partition": p, "offset": offset, "key": key, "timestamp": ts}
                if ctype == 1:
                    line["metrics"] = unpackb(value)["metrics"]
                elif ctype == 2:
                    line["metrics"] = json.loads(value)["metrics"]
                else:
                    line["format"] = RAW_FORMATS.get(ctype, "content type %d" % ctype)
                    line["body_base64"] = base64.b64encode(value).decode()
                print(json.dumps(json_safe(line), ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_log.py DATA_DIR")
    main(sys.argv[1])
