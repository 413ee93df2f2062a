/**
 * The error a batch handler rejects with when it gave a batch up without finishing it: the
 * consumer is stopping, or this member lost the batch's partition (a rebalance, or a lease
 * that ran out while the process was stopped). The consumer then commits nothing for the
 * batch and carries on: the partition's owner reads the batch again. Its `cause`, when
 * set, is what made the member give up (the Kafka consumer tells a rebalance from a lost
 * membership by it).
 */
export class BatchAbandoned extends Error {
  override name = 'BatchAbandoned';
}

/** Whether a handler's rejection is a batch given up (see BatchAbandoned), not a failure. */
export function isAbandoned(err: unknown, signal?: AbortSignal): boolean {
  return err instanceof BatchAbandoned || (err as Error | null)?.name === 'BatchAbandoned' || signal?.aborted === true;
}
