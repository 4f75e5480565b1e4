import {
  invalidPolicyMessage,
  MAX_MACHINE_POLICY_BYTES,
  parseMachinePolicy,
  parseMachinePolicyJson,
  type MachinePolicy,
  type MachinePolicyParse,
} from '../../common/machine-policy.js';
import { missingCase } from '../../common/missing-case.js';
import { realAdminFilePort } from './admin-file.js';
import { execFileNoShell } from './exec.js';
import { DEFAULT_LOCATIONS, policySources, type MachinePolicyLocations, type PolicySource } from './locations.js';
import { realPlistPort } from './plist-port.js';
import type { MachinePolicyPorts } from './ports.js';
import { registryValuesToPolicy } from './reg-query.js';
import { realRegistryPort } from './registry-port.js';

export type MachinePolicyResult =
  /** An unmanaged install: the app's own defaults apply. */
  | { status: 'none' }
  | {
      status: 'ok';
      policy: MachinePolicy;
      /** Where it was read, for the admin and the helpdesk. */
      source: string;
      /** Lower-precedence sources that also exist and are ignored. */
      shadowed?: string[];
    }
  /** Fail closed: no session starts; `message` is written for a helpdesk. */
  | { status: 'invalid'; source: string; message: string };

export interface LoadMachinePolicyOptions {
  platform: NodeJS.Platform;
  ports?: Partial<MachinePolicyPorts>;
  locations?: Partial<MachinePolicyLocations>;
}

export function realPorts(platform: NodeJS.Platform): MachinePolicyPorts {
  return {
    readAdminFile: realAdminFilePort({ posixOwnership: platform !== 'win32' && platform !== 'cygwin' }),
    readRegistryKey: realRegistryPort(execFileNoShell),
    plistToJson: realPlistPort(execFileNoShell),
  };
}

type SourceOutcome = { found: false } | { found: true; parsed: MachinePolicyParse };

/**
 * Finds the machine policy of this platform (precedence in locations.ts): the first source that
 * exists is the policy; if it is broken the result is `invalid`, never a lower source or defaults.
 */
export async function loadMachinePolicy(opts: LoadMachinePolicyOptions): Promise<MachinePolicyResult> {
  const ports: MachinePolicyPorts = { ...realPorts(opts.platform), ...opts.ports };
  const sources = policySources(opts.platform, { ...DEFAULT_LOCATIONS, ...opts.locations });
  for (let i = 0; i < sources.length; i++) {
    const source = sources[i]!;
    const outcome = await readSource(source, ports);
    if (!outcome.found) continue;
    if (!outcome.parsed.ok) return { status: 'invalid', source: source.location, message: invalidPolicyMessage(source.location, outcome.parsed.problem) };
    const shadowed: string[] = [];
    for (const lower of sources.slice(i + 1)) if ((await readSource(lower, ports)).found) shadowed.push(lower.location);
    return { status: 'ok', policy: outcome.parsed.policy, source: source.location, ...(shadowed.length ? { shadowed } : {}) };
  }
  return { status: 'none' };
}

/**
 * One JSON file named by hand, through the same reader and parser: the browser host's
 * --machine-policy and `cli.ts --check FILE`. Whoever names the file on a command line already
 * controls the process, so the ownership check is theirs to ask for.
 */
export async function loadMachinePolicyFile(file: string, opts: { posixOwnership: boolean }): Promise<MachinePolicyResult> {
  const read = realAdminFilePort({ posixOwnership: opts.posixOwnership });
  const outcome = await readSource({ kind: 'json-file', location: file }, { ...realPorts(process.platform), readAdminFile: read });
  if (!outcome.found) return { status: 'invalid', source: file, message: invalidPolicyMessage(file, 'the file does not exist') };
  if (!outcome.parsed.ok) return { status: 'invalid', source: file, message: invalidPolicyMessage(file, outcome.parsed.problem) };
  return { status: 'ok', policy: outcome.parsed.policy, source: file };
}

/**
 * A configuration profile's own bookkeeping (PayloadUUID, PayloadIdentifier, ...) may be left in
 * the managed preferences beside the policy keys; those names can never be policy fields, so they
 * are set aside. Everything else still meets the strict schema.
 */
function parsePlistJson(json: string): MachinePolicyParse {
  if (json.length > MAX_MACHINE_POLICY_BYTES) return { ok: false, problem: `it is larger than the ${MAX_MACHINE_POLICY_BYTES / 1024} KiB a policy may have` };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, problem: 'plutil did not print valid JSON' };
  }
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) raw = Object.fromEntries(Object.entries(raw).filter(([k]) => !/^Payload[A-Z]/.test(k)));
  return parseMachinePolicy(raw);
}

async function readSource(source: PolicySource, ports: MachinePolicyPorts): Promise<SourceOutcome> {
  switch (source.kind) {
    case 'json-file': {
      const f = await ports.readAdminFile(source.location);
      if (f.kind === 'absent') return { found: false };
      return { found: true, parsed: f.kind === 'ok' ? parseMachinePolicyJson(f.text) : { ok: false, problem: f.problem } };
    }
    case 'registry': {
      const r = await ports.readRegistryKey(source.location);
      if (r.kind === 'absent') return { found: false };
      if (r.kind === 'unreadable') return { found: true, parsed: { ok: false, problem: r.problem } };
      const raw = registryValuesToPolicy(r.values, r.subkeys);
      if (!raw.ok) return { found: true, parsed: raw };
      if (JSON.stringify(raw.raw).length > MAX_MACHINE_POLICY_BYTES) return { found: true, parsed: { ok: false, problem: `its values are larger than the ${MAX_MACHINE_POLICY_BYTES / 1024} KiB a policy may have` } };
      return { found: true, parsed: parseMachinePolicy(raw.raw) };
    }
    case 'plist': {
      // Ownership, size and type are checked on the file before plutil reads it.
      const f = await ports.readAdminFile(source.location);
      if (f.kind === 'absent') return { found: false };
      if (f.kind === 'unreadable') return { found: true, parsed: { ok: false, problem: f.problem } };
      const j = await ports.plistToJson(source.location);
      if (j.kind === 'unreadable') return { found: true, parsed: { ok: false, problem: j.problem } };
      return { found: true, parsed: parsePlistJson(j.json) };
    }
    default:
      return missingCase(source);
  }
}
