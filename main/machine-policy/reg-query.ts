import { MACHINE_POLICY_BOOLEAN_FIELDS } from '../../common/machine-policy.js';

/** One value line of `reg query` output. */
export interface RegValue {
  name: string;
  type: string;
  /** As reg.exe prints it: REG_DWORD as 0x..., REG_MULTI_SZ items joined by a literal `\0`. */
  data: string;
}

export interface RegKeyBlock {
  /** The full key path as printed, e.g. HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Chaperone. */
  key: string;
  values: RegValue[];
}

export type RegistryKeyRead =
  | { kind: 'absent' }
  | { kind: 'ok'; values: RegValue[]; subkeys: string[] }
  | { kind: 'unreadable'; problem: string };

const VALUE_LINE = /^ {4}(.*?) {4}(REG_[A-Z0-9_]+)(?: {4}(.*))?$/;

/**
 * Parses what `reg query KEY [/s]` prints: a block per key (its path on a line of its own, then its
 * values indented by four spaces, name, type and data separated by four spaces). A line that fits
 * neither is an error, not something to skip: a policy we only partly understood is not a policy.
 */
export function parseRegQueryOutput(stdout: string): RegKeyBlock[] {
  const blocks: RegKeyBlock[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    if (/^HKEY_[A-Z_]+(\\|$)/.test(line)) {
      blocks.push({ key: line.trimEnd(), values: [] });
      continue;
    }
    const m = VALUE_LINE.exec(line);
    const current = blocks.at(-1);
    if (!m || !current) throw new Error(`unexpected line in the registry output: ${JSON.stringify(line.slice(0, 80))}`);
    current.values.push({ name: m[1]!, type: m[2]!, data: m[3] ?? '' });
  }
  return blocks;
}

const BOOLEAN_FIELDS = new Set<string>(MACHINE_POLICY_BOOLEAN_FIELDS);

/**
 * Turns the policy key's values into the object the schema checks. Value names are matched
 * without case, as Windows does. REG_SZ becomes a string, REG_DWORD/REG_QWORD a number (0 and 1
 * become false and true for the boolean fields only), REG_MULTI_SZ a list. Any other type, and
 * any subkey, is refused: the schema is strict and so is this.
 */
export function registryValuesToPolicy(values: readonly RegValue[], subkeys: readonly string[]): { ok: true; raw: Record<string, unknown> } | { ok: false; problem: string } {
  if (subkeys.length) return { ok: false, problem: `it has a subkey ${subkeys[0]}, and the policy has none` };
  const raw: Record<string, unknown> = {};
  for (const v of values) {
    // The key's unnamed default value, "(Default)" or its translation, carries nothing of ours.
    if (/^\(.*\)$/.test(v.name)) continue;
    const name = v.name.toLowerCase();
    switch (v.type) {
      case 'REG_SZ':
      case 'REG_EXPAND_SZ':
        raw[name] = v.data;
        break;
      case 'REG_DWORD':
      case 'REG_QWORD': {
        const n = /^0x[0-9a-f]+$/i.test(v.data) ? Number.parseInt(v.data, 16) : Number.NaN;
        if (!Number.isSafeInteger(n)) return { ok: false, problem: `value "${v.name}" holds ${v.data}, which is not a number` };
        raw[name] = BOOLEAN_FIELDS.has(name) && (n === 0 || n === 1) ? n === 1 : n;
        break;
      }
      case 'REG_MULTI_SZ':
        raw[name] = v.data === '' ? [] : v.data.split('\\0').filter((s, i, a) => !(s === '' && i === a.length - 1));
        break;
      default:
        return { ok: false, problem: `value "${v.name}" has type ${v.type}; use REG_SZ, REG_DWORD or REG_MULTI_SZ` };
    }
  }
  return { ok: true, raw };
}
