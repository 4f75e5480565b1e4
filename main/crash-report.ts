import crypto from 'node:crypto';
import { TEARDOWN_RECEIPT_TYP } from '../common/protocol/signaling.js';
import type { DeviceKeyService } from './device-key.js';
import type { RecoveredGrant } from './grant-journal.js';
import type { GrantKind } from './grants.js';

export interface CrashReportOptions {
  /** The pinned broker. */
  brokerUrl: string;
  fetch: typeof fetch;
  /** The device that redeemed the code: the broker accepts the report only from it. */
  device: DeviceKeyService;
}

/**
 * Tells the broker what a crashed previous run held and this start revoked, one report per
 * session, so the analyst's side and the audit log learn that the grants ended with the crash.
 */
export async function reportRecoveredGrants(recovered: readonly RecoveredGrant[], opts: CrashReportOptions): Promise<void> {
  const bySession = new Map<string, Set<GrantKind>>();
  for (const r of recovered) if (r.sessionId) (bySession.get(r.sessionId) ?? bySession.set(r.sessionId, new Set()).get(r.sessionId)!).add(r.kind);
  for (const [sessionId, kinds] of bySession) {
    const url = `${opts.brokerUrl}/api/v1/join/teardown-report`;
    const revoked = [...kinds].sort();
    // The report is a statement of this device (docs/api.md): the broker keeps it with its signature.
    const receipt = await opts.device.sign(TEARDOWN_RECEIPT_TYP, { sid: sessionId, revoked, after_crash: true, jti: crypto.randomUUID() });
    await opts.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', dpop: await opts.device.dpop('POST', url) },
      body: JSON.stringify({ session_id: sessionId, revoked, after_crash: true, receipt }),
    });
  }
}
