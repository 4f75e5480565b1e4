import path from 'node:path';
import { defineConfig } from 'vite';

/**
 * Builds the renderer (renderer/app) into dist/renderer. Two entries: the app itself, and the
 * browser test host's preload stand-in (preload/browser-host.ts), which main/browser-host/ serves
 * before the app; Electron loads preload/index.ts instead and never requests that file.
 */
const root = path.resolve(import.meta.dirname, 'renderer/app');

export default defineConfig({
  root,
  base: './',
  // simple-peer's dependencies (randombytes) read `global`.
  define: { global: 'globalThis' },
  build: {
    outDir: path.resolve(import.meta.dirname, 'dist/renderer'),
    emptyOutDir: true,
    sourcemap: true,
    target: 'chrome120',
    rollupOptions: {
      input: {
        index: path.join(root, 'index.html'),
        'host-preload': path.resolve(import.meta.dirname, 'preload/browser-host.ts'),
      },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'host-preload' ? 'host-preload.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
});
