/**
 * The Kafka group member's per-consumer state machine (src/consumer/kafka-member-state.ts)
 * on a clock of the test's own: a batch given up for a rebalance waits for the same
 * member's rejoin, and the safety net replaces a consumer that kafkajs has not rejoined a
 * session timeout later. The integration tests (sink-kafka-rebalance, sink-kafka-stop)
 * cover the first path against the librdkafka mock; the second has no way to happen there
 * (kafkajs always rejoins), so it is pinned here.
 */
import { describe, expect, it } from 'vitest';
import { KafkaMemberState } from '../../src/consumer/kafka-member-state.ts';

const SESSION_MS = 6000;

function machine(): { state: KafkaMemberState; replaced: () => number; advance: (ms: number) => void } {
  let now = 1_000_000;
  let replaced = 0;
  const state = new KafkaMemberState(SESSION_MS, () => replaced++, () => now);
  return { state, replaced: () => replaced, advance: (ms) => (now += ms) };
}

describe('KafkaMemberState', () => {
  it('a fresh consumer handles batches', () => {
    const { state, replaced } = machine();
    expect(state.state).toBe('consuming');
    expect(state.mayHandleBatch()).toBe(true);
    expect(replaced()).toBe(0);
  });

  it('after a batch given up for a rebalance, takes no batch until kafkajs rejoins as the same member, and is not replaced', () => {
    const { state, replaced, advance } = machine();
    state.gaveUpForRebalance();
    expect(state.state).toBe('awaiting-join');
    advance(SESSION_MS); // exactly a session timeout: still within it
    expect(state.mayHandleBatch()).toBe(false);
    state.joined();
    expect(state.state).toBe('consuming');
    expect(state.mayHandleBatch()).toBe(true);
    expect(replaced()).toBe(0);
  });

  it('the safety net: still awaiting its rejoin past a session timeout, the next batch replaces the consumer, once', () => {
    const { state, replaced, advance } = machine();
    state.gaveUpForRebalance();
    advance(SESSION_MS + 1);
    expect(replaced()).toBe(0); // checked when a batch comes, not by a timer
    expect(state.mayHandleBatch()).toBe(false);
    expect(state.state).toBe('replacing');
    expect(replaced()).toBe(1);
    expect(state.mayHandleBatch()).toBe(false);
    expect(replaced()).toBe(1);
  });

  it('the session timeout counts from the rebalance, not from the consumer start', () => {
    const { state, replaced, advance } = machine();
    advance(10 * SESSION_MS);
    state.gaveUpForRebalance();
    advance(SESSION_MS - 1);
    expect(state.mayHandleBatch()).toBe(false);
    expect(state.state).toBe('awaiting-join');
    expect(replaced()).toBe(0);
  });

  it('replacing is for good: a late GROUP_JOIN or another rebalance does not bring the consumer back', () => {
    const { state, replaced } = machine();
    state.replace();
    state.replace();
    expect(replaced()).toBe(1);
    state.joined();
    state.gaveUpForRebalance();
    expect(state.state).toBe('replacing');
    expect(state.mayHandleBatch()).toBe(false);
    expect(replaced()).toBe(1);
  });

  it('a consumer that rejoined and gives up again for a rebalance awaits the rejoin afresh', () => {
    const { state, replaced, advance } = machine();
    state.gaveUpForRebalance();
    advance(SESSION_MS - 1000);
    state.joined();
    state.gaveUpForRebalance();
    advance(SESSION_MS - 1000); // 2 × (session − 1 s) since the first rebalance, within one of the second
    expect(state.mayHandleBatch()).toBe(false);
    expect(replaced()).toBe(0);
    advance(2000);
    expect(state.mayHandleBatch()).toBe(false);
    expect(replaced()).toBe(1);
  });
});
