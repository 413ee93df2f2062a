/**
 * The piscina baseline's task, run in the pool's single thread (the consumer): takes one
 * record (a Uint8Array the dispatcher posted, copied by structured clone) and returns
 * its seq so the dispatcher can check order. See piscina.ts for the topology.
 */
export default function consume(record: Uint8Array): number {
  return record[4] | (record[5] << 8) | (record[6] << 16) | (record[7] << 24);
}
