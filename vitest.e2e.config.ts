import { defineConfig } from 'vitest/config';

/**
 * The app end to end in real Chromium (`npm run test:e2e`; `npm test` runs it after the rest).
 * A configuration of its own because each file starts Xvfb, a broker, browser hosts and several
 * Chromium processes: one file at a time.
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 90_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
