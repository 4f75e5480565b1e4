#!/usr/bin/env node
// Builds the desktop app into dist/app (what electron-builder packs: `files: dist/app/**/*`):
//   dist/app/main.cjs     the composition root (main/electron/main.ts) and every main-process module
//   dist/app/preload.cjs  the sandboxed preload (preload/electron.ts), one self-contained CommonJS file
//   dist/app/renderer/    the renderer (vite build output), served on chaperone-app://ui
// Everything is bundled except libnut's native binary (electron-builder.yml packs that one package
// unpacked beside app.asar); electron is the runtime's own.
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist', 'app');
const renderer = path.join(root, 'dist', 'renderer');

if (!fs.existsSync(path.join(renderer, 'index.html'))) {
  process.stderr.write('no built renderer in dist/renderer: run npm run build:renderer first (npm run build:app does)\n');
  process.exit(1);
}
fs.rmSync(out, { recursive: true, force: true });

const common = { bundle: true, format: 'cjs', sourcemap: true, legalComments: 'none', logLevel: 'warning', external: ['electron'] };
await build({
  ...common,
  entryPoints: [path.join(root, 'main/electron/main.ts')],
  outfile: path.join(out, 'main.cjs'),
  platform: 'node',
  target: 'node22',
  // The one native module, libnut, is loaded at run time from node_modules beside the bundle
  // (main/injectors/libnut-module.ts, createRequire(import.meta.url)); CommonJS has no
  // import.meta, so the bundle's own file URL stands in for it.
  define: { 'import.meta.url': '__chaperoneBundleUrl' },
  banner: { js: "const __chaperoneBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// A sandboxed preload gets a browser-like context whose require knows only electron and a few
// polyfilled modules, so everything else is inlined.
await build({
  ...common,
  entryPoints: [path.join(root, 'preload/electron.ts')],
  outfile: path.join(out, 'preload.cjs'),
  platform: 'browser',
  target: 'chrome130',
});
fs.cpSync(renderer, path.join(out, 'renderer'), { recursive: true, filter: (src) => !src.endsWith('.map') && path.basename(src) !== 'host-preload.js' });
process.stdout.write(`built ${path.relative(root, out)}: main.cjs, preload.cjs, renderer/\n`);
