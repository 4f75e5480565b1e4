import path from 'node:path';
import { parseArgs } from 'node:util';
import { missingCase } from '../../common/missing-case.js';
import { loadMachinePolicy, loadMachinePolicyFile, type MachinePolicyResult } from './load.js';

/**
 * For administrators and the helpdesk: which machine policy is in force here, or whether a file
 * is a valid policy before it is deployed (docs/admin/verify-install.md).
 *
 *   node --import tsx main/machine-policy/cli.ts --check            the policy this machine would use
 *   node --import tsx main/machine-policy/cli.ts --check FILE       a policy.json before deploying it
 *   ... --json                                                      the result as JSON
 *
 * Exit code: 0 a valid policy or none (unmanaged), 1 a policy that refuses every session, 2 usage.
 */
const { values, positionals } = parseArgs({ options: { check: { type: 'boolean' }, json: { type: 'boolean' } }, allowPositionals: true });
if (!values.check || positionals.length > 1) {
  process.stderr.write('usage: cli.ts --check [FILE] [--json]\n');
  process.exit(2);
}
const file = positionals[0];
const result = file ? await loadMachinePolicyFile(path.resolve(file), { posixOwnership: false }) : await loadMachinePolicy({ platform: process.platform });
process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : describe(result, file !== undefined));
process.exit(result.status === 'invalid' ? 1 : 0);

function describe(r: MachinePolicyResult, namedFile: boolean): string {
  switch (r.status) {
    case 'none':
      return 'No machine policy: this is an unmanaged install and the defaults apply.\n';
    case 'invalid':
      return `INVALID: ${r.message}\n`;
    case 'ok': {
      const p = r.policy;
      const lines = [
        `${namedFile ? 'Valid policy' : 'Machine policy in force'}: ${r.source}`,
        `  broker:                 ${p.brokerUrl}`,
        `  pinned broker keys:     ${p.brokerPublicKeys.join(', ')}`,
        '  control needs a click:  yes (always)',
        '  banner always shows:    yes (always)',
        `  longest session:        ${p.maxSessionSeconds === null ? 'as the broker decides' : `${p.maxSessionSeconds / 60} minutes`}`,
        `  organisations accepted: ${p.allowedOrganisations?.join(', ') ?? 'any'}`,
        `  analyst mode:           ${p.analystMode ? 'available' : 'not on this machine'}`,
        `  capabilities denied:    ${p.deniedCapabilities.join(', ') || 'none'}`,
        `  control prompt:         ${p.controlPromptSeconds === null ? 'default (30 s)' : `${p.controlPromptSeconds} s`}`,
      ];
      for (const s of r.shadowed ?? []) lines.push(`  ignored (lower precedence): ${s}`);
      if (namedFile) lines.push('  (file ownership is checked only where the policy is deployed: run --check without FILE there)');
      return `${lines.join('\n')}\n`;
    }
    default:
      return missingCase(r);
  }
}
