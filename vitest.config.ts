// Same check as every other entry point: refuse an old Node with a message, not a crash.
import './src/main/require-node.mjs';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start gateways and brokers as separate processes; two cores
    // cannot run many of those at once without starving them.
    maxWorkers: 2,
  },
});
