/**
 * SIGTERM/SIGINT handling shared by the long-running entry points (gateway, consumer): the
 * first signal starts a clean stop, a second one means "stop now".
 *
 * Under `npm start` / `npm run consume` in a terminal, Ctrl-C delivers SIGINT twice: once
 * from the terminal to the whole foreground process group, once more forwarded by npm to
 * its child. A repeat of the same signal within DUPLICATE_WINDOW_MS is taken as that echo,
 * not as a second request, so Ctrl-C under npm still drains.
 */

/** A repeat of the first signal within this time is npm's echo, not a second signal. */
export const DUPLICATE_WINDOW_MS = 1000;

/** Calls `first` on the first SIGTERM/SIGINT and `again` on a genuine second one. */
export function onStopSignals(first: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => void): void {
  let firstSignal: { signal: NodeJS.Signals; at: number } | undefined;
  const handler = (signal: NodeJS.Signals): void => {
    if (firstSignal === undefined) {
      firstSignal = { signal, at: Date.now() };
      first(signal);
      return;
    }
    if (signal === firstSignal.signal && Date.now() - firstSignal.at < DUPLICATE_WINDOW_MS) return;
    again(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
