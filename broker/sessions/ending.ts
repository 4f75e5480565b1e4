import type { AuditMeta } from '../../common/audit-chain.js';
import type { Account } from '../auth/account.js';
import { DomainError } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import { dropPendingGrants } from './grants.js';
import { stopWatch } from './live.js';
import { clearTimers } from './live.js';
import { checkTransition, type EndReason, type SessionState } from '../../common/session-state.js';
import { applyMove, deny, lostRace, refuseTransition } from './moves.js';
import { readRow, toView } from './queries.js';
import { finaliseRecording } from './recording-finalise.js';
import { SYSTEM, accountActor, type Actor, type SessionView } from './types.js';
import { prepared } from '../storage/prepared.js';

// Run by every end, compiled once (storage/prepared.ts).
const revokeTokens = prepared<{ sid: string; now: number }, never>((db, p) => db.updateTable('session_tokens').set({ revoked_at: p('now') }).where('session_id', '=', p('sid')).where('revoked_at', 'is', null));
const openGrants = prepared<{ sid: string }, { id: string; capability: string; state: string }>((db, p) =>
  db.selectFrom('grants').select(['id', 'capability', 'state']).where('session_id', '=', p('sid')).where('state', 'in', ['granted', 'requested']),
);

/**
 * Ends a session with one reason, through the same conditional move as every other state change.
 * One transaction holds the end, the revocation of its tokens and grants, and the post-session
 * hooks' outbox rows, so none of them can be stored without the others (a crash between them
 * cannot lose a hook). Then the parties are told (the hub pushes the end and closes the sockets),
 * the end is audited and the hooks are delivered from the outbox.
 */
export function endSession(
  core: SessionCore,
  id: string,
  reason: EndReason,
  actor: Actor,
  patch: Partial<Row> = {},
  meta: AuditMeta = {},
  /** The row the caller just read, to save a re-read; the update is conditional on its version. */
  read?: Row,
): Promise<Row> {
  const run = endOnce(core, id, reason, actor, patch, meta, read);
  core.ending.add(run);
  void run.then(
    () => core.ending.delete(run),
    () => core.ending.delete(run),
  );
  return run;
}

async function endOnce(core: SessionCore, id: string, reason: EndReason, actor: Actor, patch: Partial<Row>, meta: AuditMeta, read: Row | undefined): Promise<Row> {
  const r = read ?? (await readRow(core, id));
  const t = { to: 'ended', reason } as const;
  // Checked (and a refusal audited) before the transaction: nothing inside it waits on the audit.
  if (!checkTransition(r.state as SessionState, t).ok) await refuseTransition(core, actor, r, t);
  const now = core.clock.now();
  const committed = await core.db.transaction().execute(async (trx) => {
    const moved = await applyMove(core, r, t, actor, { ...patch, end_reason: reason, ended_at: now, code_hash: null }, trx);
    if (!moved) return null;
    await revokeTokens.run(trx, { sid: id, now });
    const open = await openGrants.all(trx, { sid: id });
    if (open.length) {
      await trx.updateTable('grants').set({ state: 'revoked', revoked_at: now, revoked_by: 'broker' }).where('session_id', '=', id).where('state', 'in', ['granted', 'requested']).execute();
    }
    const revokedGrants = open.filter((g) => g.state === 'granted').map((g) => g.capability);
    const deliveries = core.hooks.deliveries(
      'session.ended',
      {
        session_id: id,
        ticket: r.ticket_ref,
        reason,
        analyst_id: r.analyst_id,
        started_at: r.activated_at,
        ended_at: now,
        capabilities: r.capabilities.split(','),
        revoked_grants: revokedGrants,
      },
      now,
    );
    if (deliveries.length) await trx.insertInto('hook_deliveries').values(deliveries).execute();
    return { moved, revokedGrants, hooks: deliveries.length };
  });
  const ended = committed?.moved ?? (await lostRace(core, actor, id, t));
  const revokedGrants = committed?.revokedGrants ?? [];
  const live = core.live.get(id);
  if (live) {
    live.state = 'ended';
    clearTimers(live);
    live.recording?.stop();
    dropPendingGrants(live);
    stopWatch(live);
    core.live.delete(id);
    core.events?.ended(live, reason);
  }
  if (committed) core.events?.endStored(reason);
  // Told whether or not it was held here: the sockets may be on any instance.
  if (committed) core.placement?.ended(id, reason);
  core.stateWatch.notify(id, 'ended');
  if (committed?.hooks) core.hooks.kick();
  await core.audit.append({
    type: 'session.ended',
    outcome: 'success',
    ...actor,
    session_id: id,
    ticket: r.ticket_ref,
    meta: { ...meta, reason, from: r.state, revoked_grants: revokedGrants },
  });
  // After the end is chained: the manifest covers every chunk acked before it. A session this
  // process never watched record (reloaded after a start and found overdue) was cut by the broker
  // being down, and its manifest says so.
  if (committed && r.state === 'active') {
    await finaliseRecording(core, id, live?.recording ? 'at_end' : 'after_restart').catch((err: unknown) => process.stderr.write(`recording finalise failed for ${id}: ${String(err)}\n`));
  }
  return ended;
}

export async function endByAnalyst(core: SessionCore, analyst: Account, id: string, source: string | null): Promise<SessionView> {
  const r = await readRow(core, id);
  const actor = accountActor(analyst, source);
  if (r.analyst_id !== analyst.id) await deny(core, actor, r, 'forbidden', 'only the requesting analyst can end this session');
  return toView(core, await endSession(core, id, 'completed', actor, {}, {}, r), { accounts: [analyst] });
}

/** The kill switch: admins end anything; approvers end what they approved. */
export async function kill(core: SessionCore, by: Account, id: string, source: string | null, reason?: string): Promise<SessionView> {
  const r = await readRow(core, id);
  const actor = accountActor(by, source);
  const allowed = by.roles.includes('admin') || (by.roles.includes('approver') && r.approver_id === by.id);
  if (!allowed) await deny(core, actor, r, 'forbidden', 'only an admin, or the approver who approved it, can revoke a session');
  const note = reason?.trim() || undefined;
  // The reason is the killer's own statement about the end (not session content): the parties
  // hear it with the end, and the audit keeps it with who pulled the switch.
  const live = core.live.get(id);
  if (live && note) live.endNote = note;
  return toView(core, await endSession(core, id, 'revoked', actor, {}, { kill_switch: true, ...(note ? { kill_reason: note } : {}) }, r), { accounts: [by] });
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
