import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pack } from 'msgpackr';
import { ContentType } from '../../src/sink/sink.ts';
import type { SinkRecord } from '../../src/sink/sink.ts';

const enc = new TextEncoder();

/** A fresh directory under the OS temp dir; remove it with removeDir. */
export function tempDir(prefix = 'metricstream-log-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** A msgpack record whose value names its partition and sequence number `seq`. */
export function metricRecord(partition: number, seq: number, padBytes = 0): SinkRecord {
  return {
    partition,
    key: enc.encode(`client-${partition}`),
    value: pack({ metrics: [{ name: 'cpu', value: seq, tags: { p: partition } }], seq, pad: 'x'.repeat(padBytes) }),
    timestamp: 1_700_000_000_000 + seq,
    contentType: ContentType.msgpack,
  };
}

/** A JSON record. */
export function jsonRecord(partition: number, seq: number): SinkRecord {
  return {
    partition,
    key: enc.encode(`json-client-${partition}`),
    value: enc.encode(JSON.stringify({ metrics: [{ name: 'mem', value: seq }], seq })),
    timestamp: 1_700_000_000_000 + seq,
    contentType: ContentType.json,
  };
}
