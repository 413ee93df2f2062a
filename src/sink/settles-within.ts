/**
 * The one bounded wait of the shutdown paths: a sink's close, a drain, a disconnect each
 * wait for work that may never finish (a silent broker, a disk that stopped answering)
 * and must give up on it at a deadline without cancelling it.
 */

/**
 * Whether `p` settled (resolved or rejected) within `ms`; never rejects. The timer is
 * cleared when `p` settles first, so a short wait leaves nothing holding the event loop.
 */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms)))),
  ]);
  clearTimeout(timer);
  return inTime;
}
