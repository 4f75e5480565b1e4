import { contextBridge, ipcRenderer } from 'electron';
import { installPreload } from './index.js';

/**
 * The preload Electron runs in the sandboxed page before the app (bundled to dist/app/preload.cjs
 * by scripts/build-app.mjs, since a sandboxed preload must be one CommonJS file).
 */
installPreload({ contextBridge, ipcRenderer });
