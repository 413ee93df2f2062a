// Same check as every other entry point: refuse an old Node with a message, not a crash.
import './src/main/require-node.mjs';
import { defineConfig } from 'vitest/config';

// kafkajs arms timers with negative delays (its request queue, not our usage; Node clamps
// them to 1 ms, which is what kafkajs means) and Node 24 prints a TimeoutNegativeWarning
// for each. Silenced the one way used everywhere (npm scripts, bin scripts): Node's own
// --disable-warning, here through NODE_OPTIONS so the test workers and every process a
// test starts inherit it.
const QUIET = '--disable-warning=TimeoutNegativeWarning';
if (!(process.env.NODE_OPTIONS ?? '').includes(QUIET)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${QUIET}`.trim();
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Hang guards, not timing assertions: generous, because CI and a loaded 2-core
    // machine can run an integration test several times slower than a quiet one.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Integration tests start gateways and brokers as separate processes; two cores
    // cannot run many of those at once without starving them.
    maxWorkers: 2,
  },
});
