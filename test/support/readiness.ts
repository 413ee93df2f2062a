/**
 * A gateway's readiness as a client sees it (GET /readyz), for every test that waits for
 * or asserts it: one definition, so a change of the endpoint's answer is made once.
 */

/** GET /readyz: the status code, or 0 when the request failed (the gateway not listening). */
export async function readyz(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    await res.text();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * Whether /readyz says the disk stalled: 503 for that reason, not another (cutting the
 * brokers, as the spill tests do just before, turns readiness off for a moment too).
 */
export async function readyzDiskStalled(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    const body = (await res.json()) as { reason?: string };
    return res.status === 503 && body.reason === 'disk stalled';
  } catch {
    return false;
  }
}
