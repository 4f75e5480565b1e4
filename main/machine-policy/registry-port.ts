import type { ExecFile } from './ports.js';
import { parseRegQueryOutput, type RegistryKeyRead } from './reg-query.js';

/**
 * reg.exe by its full path, never found through PATH or environment variables: the user controls
 * both, and could otherwise run a program of their own that reports a policy of their choosing.
 * A Windows installed elsewhere than C:\Windows passes its own path from the composition root.
 */
export const DEFAULT_REG_EXE = 'C:\\Windows\\System32\\reg.exe';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a registry key through `reg query`. Whether the key exists is decided by listing its
 * parent (which for HKLM\SOFTWARE\Policies always exists) rather than by matching reg.exe's error
 * text, which is translated on non-English Windows. Any failure other than "not listed" is
 * unreadable, so a reg.exe blocked by an administrator's own policy fails closed instead of
 * looking like an unmanaged machine.
 */
export function realRegistryPort(exec: ExecFile, regExe = DEFAULT_REG_EXE): (key: string) => Promise<RegistryKeyRead> {
  return async (key) => {
    const sep = key.lastIndexOf('\\');
    if (sep <= 0) return { kind: 'unreadable', problem: `${key} is not a registry key path` };
    const parent = key.slice(0, sep);
    const full = expandHive(key).toLowerCase();
    try {
      const listing = await run(exec, regExe, ['query', parent]);
      if (!parseRegQueryOutput(listing).some((b) => b.key.toLowerCase() === full)) return { kind: 'absent' };
      const blocks = parseRegQueryOutput(await run(exec, regExe, ['query', key, '/s']));
      // reg.exe may leave out the header of a key that has no values of its own.
      const values = blocks.find((b) => b.key.toLowerCase() === full)?.values ?? [];
      const subkeys = blocks.filter((b) => b.key.toLowerCase() !== full).map((b) => b.key.slice(full.length + 1));
      // A key left behind empty (a Group Policy object removed, its key not) is no policy.
      if (values.filter((v) => !/^\(.*\)$/.test(v.name)).length === 0 && subkeys.length === 0) return { kind: 'absent' };
      return { kind: 'ok', values, subkeys };
    } catch (err) {
      return { kind: 'unreadable', problem: (err as Error).message };
    }
  };
}

async function run(exec: ExecFile, regExe: string, args: string[]): Promise<string> {
  let r: Awaited<ReturnType<ExecFile>>;
  try {
    r = await exec(regExe, args);
  } catch (err) {
    throw new Error(`reg.exe could not be run (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (r.code !== 0) throw new Error(`reg.exe ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.toString('latin1').trim().slice(0, 200)}`);
  try {
    return utf8.decode(r.stdout);
  } catch {
    // reg.exe writes in the console code page; a non-ASCII value would arrive changed, and an
    // organisation name compared against a changed string is not a restriction we can promise.
    throw new Error('a value holds characters other than ASCII, which reg.exe does not report faithfully; use ASCII in the registry or the policy.json file');
  }
}

function expandHive(key: string): string {
  return key.replace(/^HKLM(?=\\)/i, 'HKEY_LOCAL_MACHINE');
}
