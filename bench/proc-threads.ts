/**
 * Every thread of a process as /proc shows it: its name, user and system CPU, context
 * switches. bench:thread-cpu and bench:process-spread read a server before and after a
 * timed load and split the difference by thread group.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second for /proc stat; 100 on every Linux we run on. */
export const CLK_TCK = 100;

export interface ThreadSample {
  /** The thread's name with a trailing -N dropped ("http-worker-1" → "http-worker"). */
  name: string;
  /** utime and stime, in clock ticks. */
  userTicks: number;
  systemTicks: number;
  /** Voluntary and involuntary context switches. */
  switches: number;
}

/** What a group of threads (same name) used between two samples. */
export interface GroupUse {
  threads: number;
  userUs: number;
  systemUs: number;
  switches: number;
}

/** Every live thread of `pid`, by tid. */
export function threadsOf(pid: number): Map<string, ThreadSample> {
  const out = new Map<string, ThreadSample>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const switches = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/-\d+$/, '');
      out.set(tid, { name, userTicks: Number(fields[11]), systemTicks: Number(fields[12]), switches });
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/**
 * The CPU (µs) and switches each thread group used from `before` to `after`; a thread
 * born in between counts from zero, one that ended is missing (its use is lost).
 */
export function useByGroup(before: Map<string, ThreadSample>, after: Map<string, ThreadSample>): Map<string, GroupUse> {
  const groups = new Map<string, GroupUse>();
  for (const [tid, a] of after) {
    const b = before.get(tid);
    const g = groups.get(a.name) ?? { threads: 0, userUs: 0, systemUs: 0, switches: 0 };
    g.threads++;
    g.userUs += ((a.userTicks - (b?.userTicks ?? 0)) * 1e6) / CLK_TCK;
    g.systemUs += ((a.systemTicks - (b?.systemTicks ?? 0)) * 1e6) / CLK_TCK;
    g.switches += a.switches - (b?.switches ?? 0);
    groups.set(a.name, g);
  }
  return groups;
}
