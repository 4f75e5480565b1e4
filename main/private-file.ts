import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes a file only this user can read (0600, in a 0700 directory), atomically: a fresh temp
 * file opened with 'wx' (never following or reusing a file someone else put at that name),
 * fsynced, renamed over the target, and the directory synced so the rename survives a crash.
 * A reader sees the old content or the new, never half a key or half a journal.
 */
export function writePrivateFileAtomic(file: string, body: string | Buffer): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeFileSync(fd, body);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dir);
}

/** Makes the rename itself durable; not every platform can open a directory, so best effort. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot fsync a directory; its rename is already as durable as it gets there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
