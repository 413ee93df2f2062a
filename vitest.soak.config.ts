// The soaks (test/soak/*.soak.ts): long runs that attack the gateway for minutes, run by
// their npm scripts and not by `npm test`, which must stay under CI's time budget.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

export default defineConfig({ ...base, test: { ...base.test, include: ['test/soak/**/*.soak.ts'], maxWorkers: 1 } });
