/**
 * The consumer-group soaks' attack: members killed and replaced at random moments.
 */
import type { ConsumerProcess } from '../consumer/helpers.ts';
import { pick } from '../support/prng.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What killMembers did: the signals in order ('K' SIGKILL, 'T' SIGTERM) and the exits to check. */
export interface Kills {
  sequence: string;
  /** Exit codes of members stopped by SIGTERM after they had joined (got partitions). */
  sigtermExits: Promise<number | null>[];
}

/**
 * `count` times: waits `pauseMs` ([min, max)), kills a member of `live` with SIGKILL (70 %)
 * or SIGTERM, and most of the time has `join()` replace it, at once or up to `rejoinMs`
 * later; a group left empty always gets one. `random` is a prng().
 */
export async function killMembers(
  random: () => number,
  live: Set<ConsumerProcess>,
  join: () => ConsumerProcess,
  count: number,
  pauseMs: [number, number],
  rejoinMs: number,
): Promise<Kills> {
  const kills: Kills = { sequence: '', sigtermExits: [] };
  for (let i = 0; i < count; i++) {
    await sleep(pauseMs[0] + Math.floor(random() * (pauseMs[1] - pauseMs[0])));
    const victim = pick(random, [...live]);
    const signal = random() < 0.7 ? 'SIGKILL' : 'SIGTERM';
    victim.kill(signal);
    live.delete(victim);
    // A member still starting (no assignment yet) has no handler for SIGTERM yet: Node's
    // default ends it, as it would any process. Members that joined must stop cleanly.
    if (signal === 'SIGTERM' && victim.generation() > 0) kills.sigtermExits.push(victim.exited);
    kills.sequence += signal === 'SIGKILL' ? 'K' : 'T';
    // Its replacement joins at once, a little later, or only at the next kill.
    if (random() < 0.8 || live.size === 0) {
      if (random() < 0.5) await sleep(Math.floor(random() * rejoinMs));
      live.add(join());
    }
  }
  return kills;
}
