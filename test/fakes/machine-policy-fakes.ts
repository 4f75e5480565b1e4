import type { ExecFile } from '../../main/machine-policy/index.js';

/**
 * Fakes of reg.exe and plutil, which exist only on Windows and macOS. They answer the exact
 * command lines the real ports run and print what the real programs print (CRLF, four-space
 * columns, `\0` between REG_MULTI_SZ items; plutil's JSON), so the ports' own code, including
 * their handling of exit codes, runs unchanged.
 */

export interface FakeRegValue {
  name: string;
  type: string;
  data: string;
}

/** Registry keys by full path (HKEY_LOCAL_MACHINE\...), each with its values. */
export type FakeRegistry = Record<string, FakeRegValue[]>;

export interface FakeRegExeOptions {
  /** Every run fails as reg.exe does when an administrator blocked registry tools. */
  blocked?: boolean;
  /** Raw bytes to print for a key instead of the formatted values (encoding tests). */
  rawOutput?: Record<string, Buffer>;
}

export function fakeRegExe(registry: FakeRegistry, opts: FakeRegExeOptions = {}): ExecFile & { calls: string[][] } {
  const calls: string[][] = [];
  // Every key and every key above it, in the case it was written, as Windows keeps it.
  const all = new Map<string, string>();
  for (const k of Object.keys(registry)) {
    const parts = k.split('\\');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('\\');
      if (!all.has(p.toLowerCase())) all.set(p.toLowerCase(), p);
    }
  }
  const valuesOf = (lower: string) => registry[all.get(lower) ?? ''] ?? [];
  const block = (lower: string, header: boolean) => {
    const v = valuesOf(lower);
    if (!v.length && !header) return '';
    return `\r\n${all.get(lower)}\r\n${v.map((x) => `    ${x.name}    ${x.type}    ${x.data}\r\n`).join('')}`;
  };
  const exec = async (file: string, args: readonly string[]) => {
    calls.push([file, ...args]);
    const fail = (msg: string) => ({ code: 1, stdout: Buffer.alloc(0), stderr: Buffer.from(`${msg}\r\n`) });
    if (opts.blocked) return fail('ERROR: Registry editing has been disabled by your administrator.');
    if (args[0] !== 'query' || !args[1]) return fail('ERROR: Invalid syntax.');
    const key = args[1].replace(/^HKLM(?=\\)/i, 'HKEY_LOCAL_MACHINE').toLowerCase();
    if (!all.has(key)) return fail('ERROR: The system was unable to find the specified registry key or value.');
    const raw = opts.rawOutput?.[all.get(key)!];
    if (raw) return { code: 0, stdout: raw, stderr: Buffer.alloc(0) };
    const below = [...all.keys()].filter((k) => k.startsWith(`${key}\\`)).sort();
    let out = block(key, false);
    if (args[2] === '/s') for (const k of below) out += block(k, true);
    else {
      const direct = below.filter((k) => !k.slice(key.length + 1).includes('\\'));
      if (direct.length) out += `\r\n${direct.map((k) => all.get(k)).join('\r\n')}\r\n`;
    }
    return { code: 0, stdout: Buffer.from(out, 'utf8'), stderr: Buffer.alloc(0) };
  };
  return Object.assign(exec, { calls });
}

/** plutil: converts the files it knows (their JSON given here), fails like plutil on anything else. */
export function fakePlutil(jsonByFile: Record<string, string | { exit: number; stderr: string }>): ExecFile & { calls: string[][] } {
  const calls: string[][] = [];
  const exec = async (file: string, args: readonly string[]) => {
    calls.push([file, ...args]);
    const target = args.at(-1) ?? '';
    if (args.slice(0, 4).join(' ') !== '-convert json -o -') return { code: 1, stdout: Buffer.alloc(0), stderr: Buffer.from('unrecognized option\n') };
    const r = jsonByFile[target];
    if (r === undefined) return { code: 1, stdout: Buffer.alloc(0), stderr: Buffer.from(`${target}: file does not exist or is not readable or is not a regular file (Error Domain=NSCocoaErrorDomain Code=260)\n`) };
    if (typeof r !== 'string') return { code: r.exit, stdout: Buffer.alloc(0), stderr: Buffer.from(r.stderr) };
    return { code: 0, stdout: Buffer.from(r), stderr: Buffer.alloc(0) };
  };
  return Object.assign(exec, { calls });
}
