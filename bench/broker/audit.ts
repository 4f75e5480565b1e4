// The audit log: concurrent appends on SQLite, then verifyStoredLog over that log.
import path from 'node:path';
import { REPO_ROOT, ServerChild } from '../lib/child.js';
import type { Shape } from './options.js';

export interface AuditResult {
  events: number;
  append_ms: number;
  append_per_s: number;
  verify: { available: boolean; ms?: number; events?: number; per_s?: number; ok?: unknown; result?: string };
}

export async function audit(sh: Shape): Promise<AuditResult> {
  const verifyModule = path.join(REPO_ROOT, 'broker', 'audit', 'verify.ts');
  const child = new ServerChild('audit', 'bench/servers/audit.ts', ['--events', String(sh.auditEvents), '--verify-module', verifyModule]);
  try {
    const r = await child.waitFor<AuditResult>('result', 300_000);
    process.stdout.write(
      `  audit: append ${Math.round(r.append_per_s)}/s over ${r.events} events; verify ${r.verify.available ? `${Math.round(r.verify.per_s ?? 0)}/s (ok=${String(r.verify.ok)})` : 'not available (broker/audit/verify.ts missing)'}\n`,
    );
    return r;
  } finally {
    await child.stop();
  }
}
