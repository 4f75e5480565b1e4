import type { ExecFile, PlistRead } from './ports.js';

/** By full path: PATH is the user's to change. */
export const DEFAULT_PLUTIL = '/usr/bin/plutil';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Converts a managed-preferences property list (binary or XML) to JSON with the system's plutil.
 * plutil refuses types JSON has no form for (dates, data), which the policy never uses, so that
 * refusal is reported as the problem.
 */
export function realPlistPort(exec: ExecFile, plutil = DEFAULT_PLUTIL): (file: string) => Promise<PlistRead> {
  return async (file) => {
    let r: Awaited<ReturnType<ExecFile>>;
    try {
      r = await exec(plutil, ['-convert', 'json', '-o', '-', file]);
    } catch (err) {
      return { kind: 'unreadable', problem: `plutil could not be run (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
    }
    if (r.code !== 0) return { kind: 'unreadable', problem: `plutil could not convert it (exit ${r.code}): ${(r.stderr.toString('utf8') || r.stdout.toString('utf8')).trim().slice(0, 200)}` };
    try {
      return { kind: 'ok', json: utf8.decode(r.stdout) };
    } catch {
      return { kind: 'unreadable', problem: 'plutil printed something that is not UTF-8' };
    }
  };
}
