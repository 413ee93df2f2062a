/**
 * How often the calling thread was preempted: Linux's nonvoluntary_ctxt_switches from
 * /proc/thread-self/status. The bench records it per run for every producer and the
 * consumer, because on a shared 2-core machine the slowest runs and the latency tails
 * line up with threads being descheduled by other processes, not with the transport.
 */
import { readFileSync } from 'node:fs';

/** Involuntary context switches of this thread so far, or NaN where /proc is missing. */
export function preemptions(): number {
  try {
    const m = /nonvoluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync('/proc/thread-self/status', 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
