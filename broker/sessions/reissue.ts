import crypto from 'node:crypto';
import type { CodeResult } from '../../common/protocol/responses.js';
import type { SignedInAccount } from '../auth/account.js';
import { conflict } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import { issueCode } from './join.js';
import { NOT_STARTED } from './request-approval.js';
import { deny, move } from './moves.js';
import { readRow, toView } from './queries.js';
import { scheduleTimers } from './timers.js';
import { track } from './tracking.js';
import { SYSTEM, accountActor, type SessionView } from './types.js';

/**
 * A code that expired unused does not need a new approval while the approval it was issued under
 * is still in its window: the analyst gets a new session carrying that approval (same ticket,
 * reason, capabilities, length and approver) and a new code. The old session stays ended as
 * code_expired, so its code is dead; each expired session can be reissued once.
 */
export async function reissueCode(core: SessionCore, analyst: SignedInAccount, oldId: string, source: string | null): Promise<{ session: SessionView; code: CodeResult }> {
  const actor = accountActor(analyst, source);
  const old = await readRow(core, oldId);
  if (old.analyst_id !== analyst.id) await deny(core, actor, old, 'forbidden', 'only the requesting analyst can reissue the join code');
  const now = core.clock.now();
  const refuse = async (code: string, message: string): Promise<never> => {
    await core.audit.refused({ type: 'session.reissue_refused', outcome: 'denied', ...actor, session_id: oldId, ticket: old.ticket_ref, meta: { code } });
    throw conflict(message, code);
  };
  if (old.state !== 'ended' || old.end_reason !== 'code_expired') await refuse('not_code_expired', 'only a join code that expired unused can be reissued');
  if (old.approval_deadline === null || old.approval_deadline <= now) await refuse('approval_lapsed', 'the approval has lapsed; request a new session');
  const ticket = await core.db.selectFrom('tickets').select('status').where('ref', '=', old.ticket_ref).executeTakeFirst();
  if (ticket?.status === 'closed') await refuse('ticket_closed', `ticket ${old.ticket_ref} is closed`);
  // Claimed in the shared store: two clicks, or two brokers, cannot both turn one approval into two sessions.
  if (!(await core.limits.claimOnce(`reissue:${oldId}`, old.approval_deadline!, now))) await refuse('already_reissued', 'this code was already reissued');
  const row: Row = {
    ...old,
    id: crypto.randomUUID(),
    state: 'requested',
    end_reason: null,
    ...NOT_STARTED,
    created_at: now,
    analyst_epoch: analyst.token_epoch,
  };
  await core.db.insertInto('sessions').values(row).execute();
  await core.audit.append({ type: 'session.reissued', outcome: 'success', ...actor, session_id: row.id, ticket: row.ticket_ref, meta: { from: oldId, approval_deadline: old.approval_deadline } });
  const live = track(core, row, analyst.username);
  // The approval is the old session's, decided by its approver: the move names it, not a new decision.
  const approved = await move(core, live, row, { to: 'approved' }, SYSTEM, {}, { why: 'reissued after the join code expired unused', approved_in: oldId });
  scheduleTimers(core, live, approved);
  const code = await issueCode(core, analyst, row.id, source);
  const view = await toView(core, await readRow(core, row.id), { accounts: [analyst] });
  return { session: view, code };
}
