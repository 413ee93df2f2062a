import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionFor } from '../../src/records/partitioner.ts';
import { prng } from '../support/prng.ts';

const require = createRequire(import.meta.url);
const { Partitioners } = require('kafkajs') as typeof import('kafkajs');

describe('partition rule', () => {
  it("agrees with kafkajs's Java-compatible default partitioner for keyed records", () => {
    const random = prng(42);
    for (const partitions of [1, 3, 4, 7, 16, 100]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
      const kafka = Partitioners.DefaultPartitioner();
      for (let i = 0; i < 500; i++) {
        const length = Math.floor(random() * 40);
        const key = Array.from({ length }, () => String.fromCharCode(32 + Math.floor(random() * 0x2fff))).join('');
        const bytes = Buffer.from(key);
        const expected = kafka({ topic: 't', partitionMetadata, message: { key: bytes, value: null } });
        expect(partitionFor(bytes, partitions)).toBe(expected);
      }
    }
  });

  it("matches the Java client's own murmur2 test vectors (Kafka UtilsTest)", () => {
    // Pinned so a change to the hash can never silently re-map existing clients.
    const vectors: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of vectors) expect(murmur2(Buffer.from(key))).toBe(hash);
    expect(partitionFor(Buffer.from('test_client'), 4)).toBe(0);
  });
});
