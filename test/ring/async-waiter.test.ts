/**
 * AsyncWaiter: a notify wakes it, a word already changed does not sleep, and its interval
 * stands in for waitAsync's timeout (a wait nobody notifies ends, a lost wake-up is
 * caught and counted, the event loop stays alive while it waits).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncWaiter } from '../../src/ring/async-waiter.ts';

const run = promisify(execFile);
const waiters: AsyncWaiter[] = [];
function waiterOn(words: Int32Array, periodMs: number): AsyncWaiter {
  const w = new AsyncWaiter(words, 0, periodMs);
  waiters.push(w);
  return w;
}
afterEach(() => {
  for (const w of waiters.splice(0)) w.close();
});

describe('AsyncWaiter', () => {
  it('resolves ok when the word is notified, and counts no lost wake-up', async () => {
    const words = new Int32Array(new SharedArrayBuffer(4));
    const waiter = waiterOn(words, 60_000);
    const woken = waiter.wait(0);
    Atomics.store(words, 0, 1);
    expect(Atomics.notify(words, 0)).toBe(1);
    expect(await woken).toBe('ok');
    expect(waiter.lostWakeups).toBe(0);
  });

  it('does not sleep when the word already differs', async () => {
    const words = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(words, 0, 7);
    expect(await waiterOn(words, 60_000).wait(6)).toBe('not-equal');
  });

  it('ends a wait nobody notifies as timed-out', async () => {
    const words = new Int32Array(new SharedArrayBuffer(4));
    expect(await waiterOn(words, 10).wait(0)).toBe('timed-out');
  });

  it('wakes a wait whose word changed without a notify, and counts the lost wake-up', async () => {
    const words = new Int32Array(new SharedArrayBuffer(4));
    const waiter = waiterOn(words, 10);
    const woken = waiter.wait(0);
    Atomics.store(words, 0, 1); // a publisher that forgot to notify
    expect(await woken).toBe('ok');
    expect(waiter.lostWakeups).toBe(1);
  });

  it('can wait again after each outcome', async () => {
    const words = new Int32Array(new SharedArrayBuffer(4));
    const waiter = waiterOn(words, 10);
    expect(await waiter.wait(0)).toBe('timed-out');
    const woken = waiter.wait(0);
    Atomics.store(words, 0, 1);
    Atomics.notify(words, 0);
    expect(await woken).toBe('ok');
    expect(await waiter.wait(0)).toBe('not-equal');
  });

  it('keeps the event loop alive while a wait is pending (waitAsync alone does not)', async () => {
    // A process whose only work is the wait: it must live until the wait times out.
    const script = `
      import { AsyncWaiter } from ${JSON.stringify(new URL('../../src/ring/async-waiter.ts', import.meta.url).href)};
      const words = new Int32Array(new SharedArrayBuffer(4));
      const waiter = new AsyncWaiter(words, 0, 50);
      console.log(await waiter.wait(0));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    expect(stdout.trim()).toBe('timed-out');
    const bare = `
      const words = new Int32Array(new SharedArrayBuffer(4));
      Atomics.waitAsync(words, 0, 0, 50).value.then((v) => console.log(v));
    `;
    const { stdout: bareOut } = await run(process.execPath, ['--input-type=module', '-e', bare], { timeout: 30_000 });
    expect(bareOut.trim()).toBe('');
  });
});
