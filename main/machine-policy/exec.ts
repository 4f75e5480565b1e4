import { execFile } from 'node:child_process';
import type { ExecFile } from './ports.js';

/** Output beyond this is not a policy; the child is killed rather than buffered without end. */
const MAX_OUTPUT_BYTES = 256 * 1024;

/**
 * execFile with no shell, so nothing in a path or argument is ever interpreted; a program that
 * exits non-zero resolves with its code (the caller decides what that means), one that cannot be
 * started, times out or floods its output rejects.
 */
export const execFileNoShell: ExecFile = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { shell: false, windowsHide: true, timeout: 10_000, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'buffer' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
