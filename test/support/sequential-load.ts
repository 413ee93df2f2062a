/**
 * The load of the crash and power-cut tests: clients that each send one request after the
 * other (client `<prefix>_<n>`, body value = its sequence number) until told to stop, so
 * every acknowledgement can afterwards be looked up at the partition and offset it named.
 */
import { postMetrics } from './gateway-process.ts';

/** One request's answer: a status with the position it named, or 'error' for a failed connection. */
export interface Outcome {
  client: string;
  seq: number;
  status: number | 'error';
  partition?: number;
  offset?: number;
}

/**
 * `clients` clients posting sequentially until `stop` resolves; every request gets an
 * outcome (none may hang), and each 200 is reported to `onOk` as it arrives. A client stops
 * at its first failed connection: the gateway is gone.
 */
export async function loadUntil(port: number, prefix: string, clients: number, stop: Promise<unknown>, onOk: () => void = () => {}): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let stopped = false;
  void stop.then(() => (stopped = true));
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const client = `${prefix}_${c}`;
      for (let seq = 0; !stopped; seq++) {
        try {
          const res = await postMetrics(port, client, { metrics: [{ name: 'load', value: seq }] });
          outcomes.push({ client, seq, status: res.status, partition: res.body.partition as number, offset: res.body.offset as number });
          if (res.status === 200) onOk();
        } catch {
          outcomes.push({ client, seq, status: 'error' });
          return;
        }
      }
    }),
  );
  return outcomes;
}
