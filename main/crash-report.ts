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
 * One teardown report over HTTP (`POST /api/v1/join/teardown-report`), signed by the device key
 * and sent with a DPoP proof of it: after a crash, and whenever main ended a session itself
 * because its page went away (no signaling left to carry it). A report the broker already has
 * (409) is no failure.
 */
export async function postTeardownReport(opts: CrashReportOptions, r: { sessionId: string; revoked: readonly GrantKind[]; afterCrash: boolean }): Promise<void> {
  const url = `${opts.brokerUrl}/api/v1/join/teardown-report`;
  const revoked = [...new Set(r.revoked)].sort();
  const receipt = await opts.device.teardownReceipt(r.sessionId, revoked, r.afterCrash);
  const res = await opts.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', dpop: await opts.device.dpop('POST', url) },
    body: JSON.stringify({ session_id: r.sessionId, revoked, after_crash: r.afterCrash, receipt }),
    // Quit waits for this: a broker that does not answer must not hold the machine.
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok && res.status !== 409) throw new Error(`the broker refused the teardown report for ${r.sessionId} (${res.status})`);
}

/**
 * Tells the broker what a crashed previous run held and this start revoked, one report per
 * session, so the analyst's side and the audit log learn that the grants ended with the crash.
 */
export async function reportRecoveredGrants(recovered: readonly RecoveredGrant[], opts: CrashReportOptions): Promise<void> {
  const bySession = new Map<string, Set<GrantKind>>();
  for (const r of recovered) if (r.sessionId) (bySession.get(r.sessionId) ?? bySession.set(r.sessionId, new Set()).get(r.sessionId)!).add(r.kind);
  for (const [sessionId, kinds] of bySession) await postTeardownReport(opts, { sessionId, revoked: [...kinds], afterCrash: true });
}
