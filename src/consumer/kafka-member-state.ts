/**
 * What the current kafkajs consumer of a Kafka group member may still do once one of its
 * batches was given up (nothing after a given-up batch may commit past it):
 *
 * ```
 *                    batch given up: rebalance             GROUP_JOIN
 *   ┌───────────┐ ─────────────────────────────▶ ┌───────────────┐ ──────────▶ consuming
 *   │ consuming │                                 │ awaiting-join │
 *   └───────────┘ ─────────┐                      └───────────────┘ ──┐
 *                          │ batch given up otherwise,                 │ still no GROUP_JOIN a
 *                          │ or the partition lost                     │ session timeout later
 *                          ▼                                           ▼
 *                    ┌───────────┐ ◀──────────────────────────────────┘
 *                    │ replacing │  (for good: a new kafkajs consumer joins in its place)
 *                    └───────────┘
 * ```
 *
 * - `consuming`: it handles batches.
 * - `awaiting-join`: given up because the group is rebalancing. The member is still in the
 *   group; it handles no batch until kafkajs has rejoined it as the same member (its next
 *   GROUP_JOIN), which starts every partition it is then assigned from the committed
 *   offset. Leaving and joining with a new consumer instead would start a rebalance of its
 *   own (sink-kafka-rebalance.test.ts).
 * - `replacing`: given up otherwise (membership lost, partition taken); it handles nothing
 *   more, and `onReplace` has asked for a new consumer.
 *
 * The safety net: a consumer that kafkajs still hands batches a session timeout after the
 * rebalance was seen has not rejoined, and is replaced. It is checked when a batch comes,
 * the only moment it matters.
 */
export type KafkaMemberStateName = 'consuming' | 'awaiting-join' | 'replacing';

export class KafkaMemberState {
  #state: KafkaMemberStateName = 'consuming';
  /** When the consumer began awaiting its rejoin (`now()`'s clock). */
  #awaitingSince = 0;
  readonly #sessionTimeoutMs: number;
  readonly #onReplace: () => void;
  readonly #now: () => number;

  /**
   * @param sessionTimeoutMs the group's session timeout: how long a rejoin may take
   * @param onReplace called once, when the consumer is to be replaced
   * @param now the clock (tests pass their own)
   */
  constructor(sessionTimeoutMs: number, onReplace: () => void, now: () => number = Date.now) {
    this.#sessionTimeoutMs = sessionTimeoutMs;
    this.#onReplace = onReplace;
    this.#now = now;
  }

  /** The current state; stale as soon as a batch is given up or kafkajs joins. */
  get state(): KafkaMemberStateName {
    return this.#state;
  }

  /**
   * Whether a batch that kafkajs hands out now may be handled. Replaces the consumer first
   * when it has awaited its rejoin for longer than a session timeout.
   */
  mayHandleBatch(): boolean {
    if (this.#state === 'awaiting-join' && this.#now() - this.#awaitingSince > this.#sessionTimeoutMs) this.replace();
    return this.#state === 'consuming';
  }

  /** A batch was given up because the group is rebalancing: await the same member's rejoin. */
  gaveUpForRebalance(): void {
    if (this.#state !== 'consuming') return;
    this.#state = 'awaiting-join';
    this.#awaitingSince = this.#now();
  }

  /** kafkajs (re)joined the group as this consumer (its GROUP_JOIN event). */
  joined(): void {
    if (this.#state === 'awaiting-join') this.#state = 'consuming';
  }

  /** Gives the consumer up for good; a new one is to join in its place. Idempotent. */
  replace(): void {
    if (this.#state === 'replacing') return;
    this.#state = 'replacing';
    this.#onReplace();
  }
}
