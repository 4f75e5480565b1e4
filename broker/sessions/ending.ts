import type { AuditMeta } from '../../common/audit-chain.js';
import type { EndReason } from '../../common/session-state.js';
import type { Account } from '../auth/account.js';
import { DomainError } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import { dropPendingGrants } from './grants.js';
import { clearTimers } from './live.js';
import { applyMove, deny, lostRace } from './moves.js';
import { readRow, toView } from './queries.js';
import { SYSTEM, accountActor, type Actor, type SessionView } from './types.js';

/**
 * Ends a session with one reason, through the same conditional move as every other state change:
 * revokes its tokens and grants, tells the parties (the hub pushes the end and closes both
 * sockets), audits, and queues the post-session hooks.
 */
export async function endSession(
  core: SessionCore,
  id: string,
  reason: EndReason,
  actor: Actor,
  patch: Partial<Row> = {},
  meta: AuditMeta = {},
  /** The row the caller just read, to save a re-read; the update is conditional on its version. */
  read?: Row,
): Promise<Row> {
  const r = read ?? (await readRow(core, id));
  const t = { to: 'ended', reason } as const;
  const now = core.clock.now();
  const ended = (await applyMove(core, r, t, actor, { ...patch, end_reason: reason, ended_at: now, code_hash: null })) ?? (await lostRace(core, actor, id, t));
  const live = core.live.get(id);
  if (live) {
    live.state = 'ended';
    clearTimers(live);
    dropPendingGrants(live);
    core.live.delete(id);
    core.events?.ended(live, reason);
  }
  await core.db.updateTable('session_tokens').set({ revoked_at: now }).where('session_id', '=', id).where('revoked_at', 'is', null).execute();
  const open = await core.db.selectFrom('grants').select(['id', 'capability', 'state']).where('session_id', '=', id).where('state', 'in', ['granted', 'requested']).execute();
  if (open.length) {
    await core.db.updateTable('grants').set({ state: 'revoked', revoked_at: now, revoked_by: 'broker' }).where('session_id', '=', id).where('state', 'in', ['granted', 'requested']).execute();
  }
  const revokedGrants = open.filter((g) => g.state === 'granted').map((g) => g.capability);
  await core.audit.append({
    type: 'session.ended',
    outcome: 'success',
    ...actor,
    session_id: id,
    ticket: r.ticket_ref,
    meta: { ...meta, reason, from: r.state, revoked_grants: revokedGrants },
  });
  core.hooks.enqueue('session.ended', {
    session_id: id,
    ticket: r.ticket_ref,
    reason,
    analyst_id: r.analyst_id,
    started_at: r.activated_at,
    ended_at: now,
    capabilities: r.capabilities.split(','),
    revoked_grants: revokedGrants,
  });
  return ended;
}

export async function endByAnalyst(core: SessionCore, analyst: Account, id: string, source: string | null): Promise<SessionView> {
  const r = await readRow(core, id);
  const actor = accountActor(analyst, source);
  if (r.analyst_id !== analyst.id) await deny(core, actor, r, 'forbidden', 'only the requesting analyst can end this session');
  return toView(core, await endSession(core, id, 'completed', actor, {}, {}, r), { accounts: [analyst] });
}

/** The kill switch: admins end anything; approvers end what they approved. */
export async function kill(core: SessionCore, by: Account, id: string, source: string | null): Promise<SessionView> {
  const r = await readRow(core, id);
  const actor = accountActor(by, source);
  const allowed = by.roles.includes('admin') || (by.roles.includes('approver') && r.approver_id === by.id);
  if (!allowed) await deny(core, actor, r, 'forbidden', 'only an admin, or the approver who approved it, can revoke a session');
  return toView(core, await endSession(core, id, 'revoked', actor, {}, { kill_switch: true }, r), { accounts: [by] });
}

/** The analyst's account stopped counting: every session of theirs that has not ended ends now. */
export async function endForAccount(core: SessionCore, accountId: string, why: string, by: string): Promise<string[]> {
  const rows = await core.db.selectFrom('sessions').select(['id']).where('analyst_id', '=', accountId).where('state', '!=', 'ended').execute();
  const ended: string[] = [];
  for (const { id } of rows) {
    try {
      await endSession(core, id, 'account_revoked', SYSTEM, {}, { why, by });
      ended.push(id);
    } catch (e) {
      // Ended meanwhile by someone else: nothing left to do.
      if (!(e instanceof DomainError)) throw e;
    }
  }
  return ended;
}

/** The ticketing system closed a ticket: every session on it that has not ended ends now. */
export async function ticketClosed(core: SessionCore, ref: string, actor: Actor): Promise<string[]> {
  const rows = await core.db.selectFrom('sessions').select(['id']).where('ticket_ref', '=', ref).where('state', '!=', 'ended').execute();
  const ended: string[] = [];
  for (const { id } of rows) {
    try {
      await endSession(core, id, 'ticket_closed', actor);
      ended.push(id);
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
    }
  }
  return ended;
}
