import crypto from 'node:crypto';
import type { GrantableCapability } from '../../common/capabilities.js';
import type { ControlRefusal } from '../../common/control/refusals.js';
import type { SessionRole } from '../../common/roles.js';
import { conflict, forbidden } from '../domain-errors.js';
import type { SessionCore } from './core.js';
import type { LiveSession } from './live.js';
import { readRow } from './queries.js';
import { SYSTEM, endUserActor, type Actor } from './types.js';

/**
 * Grants inside an active session: control, clipboard and files are asked for one by one, given
 * by the end user's click, and can be taken back at any moment. Only what the session was
 * approved for can be asked for.
 */

export async function requestGrant(core: SessionCore, live: LiveSession, requestId: string, capability: GrantableCapability, actor: Actor): Promise<void> {
  if (!live.capabilities.includes(capability)) {
    await core.audit.append({ type: 'grant.refused', outcome: 'denied', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, why: 'not approved for this session' } });
    throw forbidden(`${capability} was not approved for this session`, 'capability_not_approved');
  }
  if (live.granted.has(capability)) throw conflict(`${capability} is already granted`, 'already_granted');
  if (live.pendingGrants.size >= 4) throw conflict('too many grant requests are waiting for an answer', 'too_many_pending');
  const grantId = crypto.randomUUID();
  await core.db.insertInto('grants').values({ id: grantId, session_id: live.id, capability, state: 'requested', requested_at: core.clock.now(), decided_at: null, revoked_at: null, revoked_by: null }).execute();
  live.pendingGrants.set(requestId, { capability, grantId });
  core.audit.record({ type: 'grant.requested', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, request_id: requestId } });
  core.events?.grantRequested(live, requestId, capability);
  // Nobody answered in time: both sides hear it from here, 2 s after the end user's prompt closed.
  const cancel = core.clock.at(core.clock.now() + (core.cfg.policy.control_prompt_seconds + 2) * 1000, () => {
    void timeOutGrant(core, live, requestId).catch(() => undefined);
  });
  live.timers.push(cancel);
}

async function timeOutGrant(core: SessionCore, live: LiveSession, requestId: string): Promise<void> {
  const p = live.pendingGrants.get(requestId);
  if (!p || live.state !== 'active') return;
  live.pendingGrants.delete(requestId);
  await core.db.updateTable('grants').set({ state: 'denied', decided_at: core.clock.now() }).where('id', '=', p.grantId).execute();
  await core.audit.append({ type: 'grant.denied', outcome: 'success', ...SYSTEM, session_id: live.id, ticket: live.ticket, meta: { capability: p.capability, request_id: requestId, reason: 'timeout' } });
  core.events?.grantChanged(live, p.capability, false, 'broker', requestId, 'timeout');
}

export async function respondGrant(core: SessionCore, live: LiveSession, requestId: string, allow: boolean, actor: Actor, reason?: ControlRefusal): Promise<void> {
  const p = live.pendingGrants.get(requestId);
  if (!p) throw conflict('no grant request with that id is waiting', 'unknown_request');
  live.pendingGrants.delete(requestId);
  await core.db.updateTable('grants').set({ state: allow ? 'granted' : 'denied', decided_at: core.clock.now() }).where('id', '=', p.grantId).execute();
  if (allow) live.granted.add(p.capability);
  await core.audit.append({ type: allow ? 'grant.granted' : 'grant.denied', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability: p.capability, request_id: requestId, ...(reason && !allow ? { reason } : {}) } });
  core.events?.grantChanged(live, p.capability, allow, 'end_user', requestId, allow ? undefined : reason);
}

export async function revokeGrant(core: SessionCore, live: LiveSession, capability: GrantableCapability, by: SessionRole, actor: Actor): Promise<void> {
  if (!live.granted.has(capability)) throw conflict(`${capability} is not granted`, 'not_granted');
  live.granted.delete(capability);
  await core.db.updateTable('grants').set({ state: 'revoked', revoked_at: core.clock.now(), revoked_by: by }).where('session_id', '=', live.id).where('capability', '=', capability).where('state', '=', 'granted').execute();
  await core.audit.append({ type: 'grant.revoked', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, by } });
  core.events?.grantChanged(live, capability, false, by);
}

/** Client-side teardown report over signaling: which local grants the client says it dropped. */
export async function teardownReport(core: SessionCore, live: LiveSession | { id: string; ticket: string }, revoked: string[], receipt: string, actor: Actor): Promise<void> {
  await core.audit.append({ type: 'client.teardown_report', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { revoked, receipt } });
}

/**
 * The same report over HTTP, also after a crash when signaling is gone: accepted only from the
 * device that redeemed the code.
 */
export async function deviceTeardownReport(
  core: SessionCore,
  sessionId: string,
  report: { revoked: string[]; after_crash: boolean; receipt: string },
  device: { jkt: string },
  source: string | null,
): Promise<void> {
  const row = await readRow(core, sessionId);
  const actor = endUserActor(device.jkt, source);
  if (row.end_user_jkt !== device.jkt) {
    await core.audit.append({ type: 'client.teardown_report_refused', outcome: 'denied', ...actor, session_id: row.id, ticket: row.ticket_ref, meta: {} });
    throw forbidden('this device is not the end user of that session');
  }
  await core.audit.append({ type: 'client.teardown_report', outcome: 'success', ...actor, session_id: row.id, ticket: row.ticket_ref, meta: { revoked: report.revoked, after_crash: report.after_crash, receipt: report.receipt } });
}
