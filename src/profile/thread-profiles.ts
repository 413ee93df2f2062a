/**
 * Names the .cpuprofile files `node --cpu-prof` wrote (CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile)
 * after the thread they profile: thread 0 is the owner, the "worker up" log lines map
 * the other thread ids to http-worker-<i>, and anything else (a replacement worker, a
 * compression pool thread) becomes thread-<id>.
 */
import { readdir, rename } from 'node:fs/promises';
import path from 'node:path';

export interface ThreadProfile {
  /** owner, http-worker-<i> or thread-<id>; also the file stem. */
  role: string;
  threadId: number;
  /** The renamed file, <dir>/<role>.cpuprofile. */
  file: string;
}

const CPU_PROFILE_NAME = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.(\d+)\.cpuprofile$/;

/**
 * Renames every profile of process `pid` in `dir` to <role>.cpuprofile and returns them
 * in display order: owner, workers by index, then other threads. Files of other pids are
 * left alone.
 */
export async function nameThreadProfiles(dir: string, pid: number, workerThreads: ReadonlyMap<number, number>): Promise<ThreadProfile[]> {
  const found: { name: string; threadId: number; seq: number }[] = [];
  for (const name of await readdir(dir)) {
    const m = CPU_PROFILE_NAME.exec(name);
    if (m === null || Number(m[1]) !== pid) continue;
    found.push({ name, threadId: Number(m[2]), seq: Number(m[3]) });
  }
  found.sort((a, b) => a.seq - b.seq);

  const used = new Set<string>();
  const profiles: (ThreadProfile & { order: number })[] = [];
  for (const f of found) {
    const worker = workerThreads.get(f.threadId);
    let role = f.threadId === 0 ? 'owner' : worker !== undefined ? `http-worker-${worker}` : `thread-${f.threadId}`;
    // A thread id is never reused within a process, but stay safe: never overwrite a profile.
    if (used.has(role)) role = `${role}-t${f.threadId}`;
    used.add(role);
    const file = path.join(dir, `${role}.cpuprofile`);
    await rename(path.join(dir, f.name), file);
    const order = f.threadId === 0 ? -1 : worker !== undefined ? worker : 1_000_000 + f.threadId;
    profiles.push({ role, threadId: f.threadId, file, order });
  }
  profiles.sort((a, b) => a.order - b.order);
  return profiles.map(({ role, threadId, file }) => ({ role, threadId, file }));
}
