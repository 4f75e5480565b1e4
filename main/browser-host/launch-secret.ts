import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writePrivateFileAtomic } from '../private-file.js';

/**
 * The browser host's launch secret, kept in its data dir (0600) so the address it prints stays
 * the same across restarts: open tabs and bookmarks keep working. A file that is not exactly a
 * secret of the right shape, or that others can read, is replaced by a new one (an address that
 * changes is better than a secret that leaked).
 */
export const SECRET_FILE = 'host-secret';
const SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function loadOrCreateLaunchSecret(dataDir: string): string {
  const file = path.join(dataDir, SECRET_FILE);
  try {
    const st = fs.statSync(file);
    const privateEnough = process.platform === 'win32' || (st.mode & 0o077) === 0;
    const text = fs.readFileSync(file, 'utf8').trim();
    if (st.isFile() && privateEnough && SHAPE.test(text)) return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = crypto.randomBytes(32).toString('base64url');
  writePrivateFileAtomic(file, `${secret}\n`);
  return secret;
}
