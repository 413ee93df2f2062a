/**
 * The one polling wait of the tests: integration tests wait for an event a child process
 * logs or a store shows, never for a fixed time.
 */

export interface WaitOptions {
  /** Poll interval (default 50 ms). */
  everyMs?: number;
  /** Appended to the timeout error (the members' logs, say), so a CI failure can be read afterwards. */
  explain?: () => string;
}

/** Polls `check` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  { everyMs = 50, explain }: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${explain ? `\n${explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
