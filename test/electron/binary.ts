import fs from 'node:fs';
import path from 'node:path';

/**
 * Where the Electron binary is, or why it is not usable. The npm package installs without its
 * binary and fetches it on first `require('electron')`, which our machines cannot do (and a test
 * run should not try), so this reads what that require would read, without the download:
 * `path.txt` names the executable under `dist/` (or ELECTRON_OVERRIDE_DIST_PATH).
 */
export function electronBinary(): { path: string } | { missing: string } {
  const pkg = path.resolve(import.meta.dirname, '../../node_modules/electron');
  const pathFile = path.join(pkg, 'path.txt');
  if (!fs.existsSync(pathFile) && !process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    return { missing: 'the electron package has no binary (node_modules/electron/path.txt is absent: it is downloaded on first use, and this machine cannot reach the download)' };
  }
  const exe = fs.existsSync(pathFile) ? fs.readFileSync(pathFile, 'utf8').trim() : 'electron';
  const p = process.env.ELECTRON_OVERRIDE_DIST_PATH ? path.join(process.env.ELECTRON_OVERRIDE_DIST_PATH, exe) : path.join(pkg, 'dist', exe);
  try {
    fs.accessSync(p, fs.constants.X_OK);
  } catch {
    return { missing: `the Electron binary ${p} does not exist or cannot be executed` };
  }
  return { path: p };
}
