import type { MachinePolicyResult } from '../machine-policy/index.js';
import { missingCase } from '../../common/missing-case.js';

export const DEFAULT_BROKER_URL = 'http://127.0.0.1:7480';

/**
 * The broker this app talks to. A managed machine's policy pins it and nothing overrides it; an
 * unmanaged install reads CHAPERONE_BROKER_URL (a setting of the user's own environment, not of a
 * link or a page). With an invalid policy no session starts anyway (MainServices refuses them); the
 * default keeps the page loadable so it can show why.
 */
export function brokerUrlFor(policy: MachinePolicyResult, env: Record<string, string | undefined>): string {
  switch (policy.status) {
    case 'ok':
      return stripSlash(policy.policy.brokerUrl);
    case 'none': {
      const fromEnv = env.CHAPERONE_BROKER_URL;
      if (!fromEnv) return DEFAULT_BROKER_URL;
      const u = new URL(fromEnv);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`CHAPERONE_BROKER_URL must be http(s): ${fromEnv}`);
      return stripSlash(u.origin);
    }
    case 'invalid':
      return DEFAULT_BROKER_URL;
    default:
      return missingCase(policy);
  }
}

function stripSlash(s: string): string {
  return s.replace(/\/+$/, '');
}
