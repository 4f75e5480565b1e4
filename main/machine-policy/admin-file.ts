import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { MAX_MACHINE_POLICY_BYTES } from '../../common/machine-policy.js';
import type { FileRead } from './ports.js';

export interface AdminFileOptions {
  /**
   * Check owner and mode bits (POSIX). On Windows the mode bits Node reports are made up, so the
   * check is skipped there and the folder's ACL is the administrator's to set (docs/admin/policy.md).
   */
  posixOwnership: boolean;
  /** The owner a policy file and its folder must have; root. */
  adminUid?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a policy file as a user cannot have written it: owned by root, not writable by group or
 * others, in a folder with the same properties (or a user could replace the file), a regular file,
 * at most 64 KiB (checked on the open descriptor, then read bounded, so a file that grows between
 * the two is still caught).
 */
export function realAdminFilePort(opts: AdminFileOptions): (file: string) => Promise<FileRead> {
  const adminUid = opts.adminUid ?? 0;
  return async (file) => {
    let fh: fs.FileHandle;
    try {
      // Non-blocking, so a FIFO planted at the path cannot hang the start; fstat then refuses it.
      fh = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'absent' };
      if (code === 'EACCES' || code === 'EPERM') return { kind: 'unreadable', problem: 'permission denied (the file must be readable by every user)' };
      if (code === 'EISDIR') return { kind: 'unreadable', problem: 'it is a folder, not a file' };
      return { kind: 'unreadable', problem: `the system refused to open it (${code ?? (err as Error).message})` };
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) return { kind: 'unreadable', problem: 'it is not a regular file' };
      if (opts.posixOwnership) {
        const own = ownership('the file', st, adminUid);
        if (own) return { kind: 'unreadable', problem: own };
        const dir = path.dirname(await fs.realpath(file));
        const dirOwn = ownership(`its folder ${dir}`, await fs.stat(dir), adminUid);
        if (dirOwn) return { kind: 'unreadable', problem: dirOwn };
      }
      if (st.size > MAX_MACHINE_POLICY_BYTES) return { kind: 'unreadable', problem: `the file is ${st.size} bytes, more than the ${MAX_MACHINE_POLICY_BYTES / 1024} KiB a policy may have` };
      const buf = Buffer.alloc(MAX_MACHINE_POLICY_BYTES + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_MACHINE_POLICY_BYTES) return { kind: 'unreadable', problem: `the file is larger than the ${MAX_MACHINE_POLICY_BYTES / 1024} KiB a policy may have` };
      try {
        return { kind: 'ok', text: utf8.decode(buf.subarray(0, bytesRead)) };
      } catch {
        return { kind: 'unreadable', problem: 'it is not UTF-8 text' };
      }
    } catch (err) {
      return { kind: 'unreadable', problem: `reading it failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
    } finally {
      await fh.close().catch(() => undefined);
    }
  };
}

function ownership(what: string, st: { uid: number; mode: number }, adminUid: number): string | null {
  if (st.uid !== adminUid) return `${what} is owned by user id ${st.uid}, not by root, so someone other than an administrator could have written it (run: chown root:root)`;
  if (st.mode & 0o022) return `${what} can be changed by users other than root (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; run: chmod go-w)`;
  return null;
}
