import type { Selectable } from 'kysely';
import crypto from 'node:crypto';
import type { Capability } from '../../common/capabilities.js';
import { approvalNeeded } from '../../common/policy.js';
import type { Account, SignedInAccount } from '../auth/account.js';
import { DomainError, type DomainErrorKind } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import { endSession } from './ending.js';
import { mustLive, track } from './tracking.js';
import { deny, move, refuseTransition } from './moves.js';
import { readRow, toView } from './queries.js';
import { scheduleTimers } from './timers.js';
import { SYSTEM, accountActor, type SessionView } from './types.js';
import { insertRow, prepared } from '../storage/prepared.js';
import type { TicketsTable } from '../storage/schema.js';

const ticketByRef = prepared<{ ref: string }, Selectable<TicketsTable>>((db, p) => db.selectFrom('tickets').selectAll().where('ref', '=', p('ref')));

/** The start of a session: an analyst asks against a ticket; policy or an approver says yes or no. */

/** A session row's fields before a code is issued: nothing joined, offered, started or ended yet. */
export const NOT_STARTED = {
  code_hash: null,
  code_expires_at: null,
  end_user_jkt: null,
  offer_hash: null,
  offer_expires_at: null,
  activated_at: null,
  expires_at: null,
  hard_deadline: null,
  ended_at: null,
  version: 0,
  watch_terms: null,
  watch_met_at: null,
  control_suspended_by: null,
  control_suspended_note: null,
} as const;

export interface SessionRequest {
  ticket: string;
  reason: string;
  capabilities: Capability[];
  duration_minutes: number;
}

export async function request(core: SessionCore, analyst: SignedInAccount, input: SessionRequest, source: string | null): Promise<SessionView> {
  const policy = core.cfg.policy;
  const actor = accountActor(analyst, source);
  const caps = [...new Set<Capability>(['view', ...input.capabilities])];
  const refuse = async (code: string, message: string, kind: DomainErrorKind = 'forbidden') => {
    await core.audit.refused({ type: 'session.request_refused', outcome: 'denied', ...actor, ticket: input.ticket, meta: { code, capabilities: caps } });
    throw new DomainError(kind, code, message);
  };
  if (!analyst.roles.includes('analyst')) await refuse('forbidden', 'only analysts can request sessions');
  const denied = caps.filter((c) => (policy.denied_capabilities as readonly string[]).includes(c));
  if (denied.length > 0) await refuse('capability_denied_by_policy', `policy does not allow ${denied.join(', ')} in a session`);
  if (input.duration_minutes > policy.max_duration_minutes) {
    await refuse('duration_exceeds_policy', `policy allows at most ${policy.max_duration_minutes} minutes`, 'bad_request');
  }
  const ticket = await ticketByRef.first(core.db, { ref: input.ticket });
  if (ticket?.status === 'closed') await refuse('ticket_closed', `ticket ${input.ticket} is closed`, 'conflict');
  if (policy.require_open_ticket && !ticket) {
    await refuse('ticket_required', `policy requires an open ticket; ${input.ticket} is not known to the broker`, 'conflict');
  }
  const decision = approvalNeeded(policy, analyst.kind, caps);
  const now = core.clock.now();
  const id = crypto.randomUUID();
  const row: Row = {
    id,
    ticket_ref: input.ticket,
    reason: input.reason,
    analyst_id: analyst.id,
    capabilities: caps.join(','),
    duration_s: input.duration_minutes * 60,
    state: 'requested',
    end_reason: null,
    approval_required: decision.needed ? 1 : 0,
    approval_why: decision.why,
    approver_id: null,
    approved_at: null,
    approval_deadline: now + policy.approval_window_minutes * 60_000,
    ...NOT_STARTED,
    created_at: now,
    decision_note: null,
    // What the analyst's token carried: if the account's epoch has moved on since, the watch ends this.
    analyst_epoch: analyst.token_epoch,
  };
  await insertRow(core.db, 'sessions', row);
  core.audit.record({
    type: 'session.requested',
    outcome: 'success',
    ...actor,
    session_id: id,
    ticket: input.ticket,
    meta: { capabilities: caps, duration_minutes: input.duration_minutes, analyst_kind: analyst.kind, reason_length: input.reason.length },
  });
  const live = track(core, row, analyst.username);
  const moved = decision.needed
    ? await move(core, live, row, { to: 'awaiting_approval' }, SYSTEM, {}, { why: decision.why })
    : await move(core, live, row, { to: 'approved' }, SYSTEM, { approved_at: now }, { why: decision.why });
  scheduleTimers(core, live, moved);
  return toView(core, moved, { accounts: [analyst], noGrants: true });
}

export async function approve(core: SessionCore, approver: Account, id: string, source: string | null): Promise<SessionView> {
  const actor = accountActor(approver, source);
  const r = await readRow(core, id);
  if (!approver.roles.includes('approver')) await deny(core, actor, r, 'forbidden', 'only approvers can approve');
  if (r.analyst_id === approver.id) await deny(core, actor, r, 'self_approval', 'an approver cannot approve their own request');
  const live = mustLive(core, r);
  const now = core.clock.now();
  const moved = await move(core, live, r, { to: 'approved' }, actor, {
    approver_id: approver.id,
    approved_at: now,
    approval_deadline: now + core.cfg.policy.approval_window_minutes * 60_000,
  });
  scheduleTimers(core, live, moved);
  return toView(core, moved, { accounts: [approver] });
}

export async function reject(core: SessionCore, approver: Account, id: string, reason: string, source: string | null): Promise<SessionView> {
  const actor = accountActor(approver, source);
  const r = await readRow(core, id);
  if (!approver.roles.includes('approver')) await deny(core, actor, r, 'forbidden', 'only approvers can reject');
  if (r.analyst_id === approver.id) await deny(core, actor, r, 'self_approval', 'an approver cannot decide their own request');
  if (r.state !== 'awaiting_approval') {
    await refuseTransition(core, actor, r, { to: 'ended', reason: 'rejected' });
  }
  const ended = await endSession(core, id, 'rejected', actor, { approver_id: approver.id, decision_note: reason }, { reason_length: reason.length }, r);
  return toView(core, ended, { accounts: [approver] });
}
