import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start brokers, coturn and databases; two cores run two files at a time.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
