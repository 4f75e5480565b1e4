import crypto from 'node:crypto';
import { approvalNeeded } from '../../common/policy.js';
import type { SessionRole } from '../../common/roles.js';
import type { Account } from '../auth/account.js';
import { badRequest, conflict } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import { clearTimers, type LiveSession } from './live.js';
import { deny } from './moves.js';
import { readRow } from './queries.js';
import { verifyReceipt } from './receipts.js';
import { issueSessionToken } from './session-tokens.js';
import { scheduleTimers } from './timers.js';
import { accountActor, type Actor } from './types.js';

/**
 * More time for an active session: the analyst asks, policy may want an approver, the end user
 * consents again with a signed receipt, and the hard maximum holds whatever anyone says. A
 * decision is claimed before the first await, so two at once cannot both be applied.
 */

export async function requestExtension(core: SessionCore, live: LiveSession, minutes: number, actor: Actor): Promise<void> {
  const now = () => core.clock.now();
  const r = await readRow(core, live.id);
  if (live.pendingExtension) throw conflict('an extension is already waiting', 'extension_pending');
  const base = Math.max(live.expiresAt ?? now(), now());
  if (base + minutes * 60_000 > (live.hardDeadline ?? 0)) {
    await core.audit.refused({ type: 'extension.refused', outcome: 'denied', ...actor, session_id: live.id, ticket: live.ticket, meta: { minutes, why: 'beyond hard maximum' } });
    throw conflict(`the session cannot run past its hard maximum of ${core.cfg.policy.hard_max_minutes} minutes`, 'hard_max');
  }
  const id = crypto.randomUUID();
  const analyst = await core.db.selectFrom('accounts').select('kind').where('id', '=', r.analyst_id).executeTakeFirstOrThrow();
  const needs = approvalNeeded(core.cfg.policy, analyst.kind as Account['kind'], live.capabilities).needed;
  const state = needs ? 'awaiting_approval' : 'awaiting_consent';
  await core.db.insertInto('extensions').values({ id, session_id: live.id, minutes, state, requested_at: now(), approver_id: null, decided_at: null, decision_note: null }).execute();
  live.pendingExtension = { id, minutes, state };
  await core.audit.append({ type: 'extension.requested', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { minutes, extension_id: id, approval_required: needs } });
  if (needs) core.events?.extension(live, { id, minutes, phase: 'awaiting_approval' });
  else offerExtension(core, live);
}

/** Puts the waiting extension to the end user. */
function offerExtension(core: SessionCore, live: LiveSession): void {
  const e = live.pendingExtension!;
  e.state = 'awaiting_consent';
  e.deciding = false;
  const now = core.clock.now();
  const newExpiresAt = Math.max(live.expiresAt ?? now, now) + e.minutes * 60_000;
  core.events?.extension(live, { id: e.id, minutes: e.minutes, phase: 'offer', newExpiresAt });
}

export async function approveExtension(
  core: SessionCore,
  approver: Account,
  sessionId: string,
  extensionId: string,
  approve: boolean,
  source: string | null,
  reason: string | null = null,
): Promise<void> {
  const actor = accountActor(approver, source);
  const r = await readRow(core, sessionId);
  if (!approver.roles.includes('approver')) await deny(core, actor, r, 'forbidden', 'only approvers can decide extensions');
  if (r.analyst_id === approver.id) await deny(core, actor, r, 'self_approval', 'an approver cannot approve their own extension');
  const live = core.live.get(sessionId);
  const e = live?.pendingExtension;
  if (!live || !e || e.id !== extensionId || e.state !== 'awaiting_approval' || e.deciding) {
    throw conflict('no extension with that id is waiting for approval', 'no_pending_extension');
  }
  // Claimed before the first await, so two approvers deciding at once cannot both win.
  e.deciding = true;
  await core.db
    .updateTable('extensions')
    .set({ state: approve ? 'awaiting_consent' : 'rejected', approver_id: approver.id, decided_at: core.clock.now(), decision_note: approve ? null : reason })
    .where('id', '=', extensionId)
    .where('state', '=', 'awaiting_approval')
    .execute();
  await core.audit.append({ type: approve ? 'extension.approved' : 'extension.rejected', outcome: 'success', ...actor, session_id: sessionId, ticket: r.ticket_ref, meta: { extension_id: extensionId, ...(approve ? {} : { reason_length: reason?.length ?? 0 }) } });
  if (approve) offerExtension(core, live);
  else {
    live.pendingExtension = null;
    core.events?.extension(live, { id: e.id, minutes: e.minutes, phase: 'result', accepted: false, by: 'approver', reason, approverName: approver.display_name });
  }
}

export async function respondExtension(core: SessionCore, live: LiveSession, extensionId: string, accept: boolean, receipt: string | undefined, actor: Actor): Promise<void> {
  const e = live.pendingExtension;
  if (!e || e.id !== extensionId || e.state !== 'awaiting_consent' || e.deciding) throw conflict('no extension with that id is waiting for consent', 'no_pending_extension');
  // Claimed before the first await: two answers arriving together cannot both extend.
  e.deciding = true;
  let r: Row;
  try {
    r = await readRow(core, live.id);
    if (accept && !receipt) throw badRequest('accepting an extension needs a signed consent receipt', 'bad_receipt');
    // A receipt is needed to accept and welcome with a decline; whichever is given must say what
    // the frame says, and it is the receipt's own decision that is acted on.
    if (receipt) {
      await verifyReceipt(core, receipt, live.endUserJkt!, r, actor, 'chaperone-extension+jwt', (p) => (p.extension_id === extensionId ? null : 'made for another extension'), accept ? 'accept' : 'decline');
    }
  } catch (err) {
    // A refused answer leaves the question open for a proper one.
    e.deciding = false;
    throw err;
  }
  live.pendingExtension = null;
  const now = core.clock.now();
  if (!accept) {
    await core.db.updateTable('extensions').set({ state: 'declined', decided_at: now }).where('id', '=', extensionId).execute();
    await core.audit.append({ type: 'extension.declined', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { extension_id: extensionId, receipt: receipt ?? null } });
    core.events?.extension(live, { id: e.id, minutes: e.minutes, phase: 'result', accepted: false, by: 'end_user' });
    return;
  }
  const newExpiresAt = Math.min(Math.max(live.expiresAt ?? now, now) + e.minutes * 60_000, live.hardDeadline ?? now);
  // Not a state change, so not a move; still conditional on the version and on being active.
  const moved = await core.db.updateTable('sessions').set({ expires_at: newExpiresAt, version: r.version + 1 }).where('id', '=', live.id).where('version', '=', r.version).where('state', '=', 'active').executeTakeFirst();
  if (Number(moved.numUpdatedRows) !== 1) {
    // The session ended (or changed) meanwhile: nothing is extended, no token is issued.
    await core.db.updateTable('extensions').set({ state: 'lapsed', decided_at: now }).where('id', '=', extensionId).execute();
    throw conflict('the session ended before the extension could be applied', 'session_ended');
  }
  await core.db.updateTable('extensions').set({ state: 'accepted', decided_at: now }).where('id', '=', extensionId).execute();
  live.expiresAt = newExpiresAt;
  await core.audit.append({ type: 'extension.accepted', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { extension_id: extensionId, minutes: e.minutes, expires_at: newExpiresAt, receipt: receipt ?? null } });
  clearTimers(live);
  scheduleTimers(core, live, await readRow(core, live.id));
  // Tokens carry exp no later than the session end, so a longer session needs fresh tokens.
  const tokens: Partial<Record<SessionRole, { token: string; expires_at: number }>> = {};
  const current = await core.db.selectFrom('session_tokens').selectAll().where('session_id', '=', live.id).where('revoked_at', 'is', null).execute();
  for (const role of ['analyst', 'end_user'] as const) {
    const t = current.filter((c) => c.role === role).pop();
    if (!t) continue;
    const issued = await issueSessionToken(core, live, role, role === 'analyst' ? live.analystId : t.jkt, t.jkt);
    tokens[role] = { token: issued.token, expires_at: issued.expires_at };
  }
  core.events?.extension(live, { id: e.id, minutes: e.minutes, phase: 'result', accepted: true, newExpiresAt, by: 'end_user' });
  core.events?.tokensRenewed(live, tokens);
}
