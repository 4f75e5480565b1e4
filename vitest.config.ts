import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start brokers, coturn and databases; two cores run two files at a time.
    maxWorkers: 2,
    fileParallelism: true,
    // Two projects so that `npm run test:unit` (`--project unit`) runs only the quick ones;
    // `npm test` runs both. The end-to-end and Electron tests have configurations of their own.
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // Everything else under test/ (today test/integration/), so no test file falls between the two.
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/unit/**'] } },
    ],
  },
});
