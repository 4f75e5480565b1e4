import { defineConfig } from 'vitest/config';

/**
 * The desktop app in the real Electron (`npm run test:electron`). A configuration of its own: it
 * needs the built app (npm run build:app) and the Electron binary; without the binary every test
 * skips and says why.
 */
export default defineConfig({
  test: {
    include: ['test/electron/**/*.electron.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 90_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
