/**
 * Which kafkajs failures a group member answers by rejoining (a broker that refused a
 * group request) and which end the consumer. kafkajs hands the broker's refusal over
 * either as thrown or wrapped by its retrier; both must read as a refusal.
 */
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isBrokerRefusal, isRebalanceInProgress } from '../../src/consumer/kafka-group-consumer.ts';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;
// kafkajs' typings declare one argument; its constructor takes the options its retrier passes.
const KafkaJSNonRetriableError = kafkajs.KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: unknown }) => Error;

/** What the librdkafka mock answers a late follower's SyncGroup with (INVALID_REQUEST), as kafkajs builds it. */
const invalidRequest = () =>
  new KafkaJSProtocolError({ message: 'This most likely occurs because of a request being malformed by the client library', type: 'INVALID_REQUEST', code: 42, retriable: false } as unknown as Error);

describe('isBrokerRefusal', () => {
  it('a KafkaJSProtocolError as thrown', () => {
    expect(isBrokerRefusal(invalidRequest())).toBe(true);
  });

  it('the same refusal wrapped by kafkajs\' retrier (KafkaJSNonRetriableError with the refusal as cause)', () => {
    const e = invalidRequest();
    // retry/index.js: reject(new KafkaJSNonRetriableError(e, { cause: e.cause || e }))
    const wrapped = new KafkaJSNonRetriableError(e, { cause: (e as Error & { cause?: unknown }).cause || e });
    expect(wrapped.name).toBe('KafkaJSNonRetriableError');
    expect(isBrokerRefusal(wrapped)).toBe(true);
  });

  it('not a lost connection, retries run out on one, or anything else', () => {
    const lost = new KafkaJSConnectionError('Connection error: ECONNREFUSED');
    expect(isBrokerRefusal(lost)).toBe(false);
    expect(isBrokerRefusal(new KafkaJSNumberOfRetriesExceeded(lost, { retryCount: 5, retryTime: 1000 }))).toBe(false);
    expect(isBrokerRefusal(new Error('sink said no'))).toBe(false);
    expect(isBrokerRefusal('a string')).toBe(false);
    expect(isBrokerRefusal(undefined)).toBe(false);
  });

  it('a cause chain that loops ends the search', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isBrokerRefusal(a)).toBe(false);
  });
});

describe('isRebalanceInProgress', () => {
  const rebalancing = () =>
    new KafkaJSProtocolError({ message: 'The group is rebalancing, so a rejoin is needed', type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false } as unknown as Error);

  it('the broker\'s REBALANCE_IN_PROGRESS, thrown or wrapped', () => {
    expect(isRebalanceInProgress(rebalancing())).toBe(true);
    expect(isRebalanceInProgress(new KafkaJSNonRetriableError(rebalancing(), { cause: rebalancing() }))).toBe(true);
  });

  it('not a member the broker no longer knows (after a SIGSTOP past its session), nor another refusal', () => {
    const unknownMember = new KafkaJSProtocolError({ message: 'The coordinator is not aware of this member', type: 'UNKNOWN_MEMBER_ID', code: 25, retriable: false } as unknown as Error);
    expect(isRebalanceInProgress(unknownMember)).toBe(false);
    expect(isRebalanceInProgress(invalidRequest())).toBe(false);
    expect(isRebalanceInProgress(new Error('REBALANCE_IN_PROGRESS'))).toBe(false);
  });
});
