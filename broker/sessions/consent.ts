import type { ConsentResult } from '../../common/protocol/responses.js';
import { conflict, forbidden } from '../domain-errors.js';
import type { SessionCore } from './core.js';
import { endSession } from './ending.js';
import { mustLive } from './tracking.js';
import { move } from './moves.js';
import { readRow } from './queries.js';
import { verifyReceipt } from './receipts.js';
import { issueSessionToken } from './session-tokens.js';
import { scheduleTimers } from './timers.js';
import { openRecording, sessionRecordingMode } from './recording.js';
import { SYSTEM, endUserActor } from './types.js';
import { loadWatch } from './watchers.js';

/**
 * The end user's signed answer to the offer. Declining ends the session; accepting starts it with
 * view (and chat) only, and gives the end user's client its session token.
 */
export async function consent(core: SessionCore, sessionId: string, receipt: string, device: { jkt: string }, source: string | null): Promise<ConsentResult> {
  const actor = endUserActor(device.jkt, source);
  const r = await readRow(core, sessionId);
  if (r.end_user_jkt !== device.jkt) {
    await core.audit.refused({ type: 'consent.refused', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { why: 'not the redeeming device' } });
    throw forbidden('this device did not redeem the code for this session');
  }
  // Whether the session is recorded is a consent fact: the offer states it, an accepting receipt repeats it.
  const mode = sessionRecordingMode(core, r);
  const claims = await verifyReceipt(core, receipt, device.jkt, r, actor, 'chaperone-consent+jwt', (p) =>
    p.decision === 'accept' && p.recording !== mode ? `recording must say ${mode}, as the offer did` : null,
  );
  const accept = claims.decision === 'accept';
  if (!accept) {
    await endSession(core, r.id, 'declined', actor, {}, { receipt });
    return { accepted: false };
  }
  if (r.offer_expires_at !== null && r.offer_expires_at <= core.clock.now()) {
    await endSession(core, r.id, 'consent_timed_out', SYSTEM, {}, { why: 'offer expired before consent' }).catch(() => undefined);
    throw conflict('the offer expired before it was accepted', 'offer_expired');
  }
  const now = core.clock.now();
  const expiresAt = now + r.duration_s * 1000;
  const hardDeadline = now + core.cfg.policy.hard_max_minutes * 60_000;
  const live = mustLive(core, r);
  const moved = await move(core, live, r, { to: 'active' }, actor, { activated_at: now, expires_at: expiresAt, hard_deadline: hardDeadline }, { receipt, accepted: claims.accepted_capabilities as string[], recording: mode });
  live.expiresAt = expiresAt;
  live.hardDeadline = hardDeadline;
  scheduleTimers(core, live, moved);
  await openRecording(core, live, moved, actor);
  await loadWatch(core, live, moved);
  const session = await issueSessionToken(core, live, 'end_user', device.jkt, device.jkt);
  core.events?.activated(live);
  return { accepted: true, ...session };
}
