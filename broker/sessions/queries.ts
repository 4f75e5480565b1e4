import type { Capability } from '../../common/capabilities.js';
import type { PendingExtension } from '../../common/protocol/responses.js';
import type { Role } from '../../common/roles.js';
import type { EndReason, SessionState } from '../../common/session-state.js';
import type { Account } from '../auth/account.js';
import { notFound } from '../domain-errors.js';
import { prepared } from '../storage/prepared.js';
import type { Row, SessionCore } from './core.js';
import type { GrantView, SessionView } from './types.js';

/** The read side: sessions as the API shows them. Nothing here changes anything. */

/** Roles that see every session; an analyst sees their own. */
const SEES_ALL: readonly Role[] = ['approver', 'admin', 'auditor'];
export const seesAll = (a: Pick<Account, 'roles'>) => a.roles.some((x) => SEES_ALL.includes(x));

const sessionById = prepared<{ id: string }, Row>((db, p) => db.selectFrom('sessions').selectAll().where('id', '=', p('id')));

export async function readRow(core: SessionCore, id: string): Promise<Row> {
  const r = await sessionById.first(core.db, { id });
  if (!r) throw notFound('no such session');
  return r;
}

export async function view(core: SessionCore, id: string): Promise<SessionView> {
  return toView(core, await readRow(core, id));
}

export async function list(core: SessionCore, filter: { analystId?: string | undefined; state?: SessionState | undefined; limit: number }): Promise<SessionView[]> {
  let q = core.db.selectFrom('sessions').selectAll().orderBy('created_at', 'desc').limit(filter.limit);
  if (filter.analystId) q = q.where('analyst_id', '=', filter.analystId);
  if (filter.state) q = q.where('state', '=', filter.state);
  const rows = await q.execute();
  return Promise.all(rows.map((r) => toView(core, r)));
}

/** The sessions this account may see. */
export function listFor(core: SessionCore, account: Account, filter: { state?: SessionState | undefined; limit: number }): Promise<SessionView[]> {
  return list(core, { analystId: seesAll(account) ? undefined : account.id, state: filter.state, limit: filter.limit });
}

/** One session, if this account may see it; another analyst's session does not exist for them. */
export async function viewFor(core: SessionCore, account: Account, id: string): Promise<SessionView> {
  const v = await view(core, id);
  if (v.analyst.id !== account.id && !seesAll(account)) throw notFound('no such session');
  return v;
}

/**
 * `known` carries what the caller already holds (the analyst's or approver's own account, or
 * that a session just created has no grants), so a request is not answered with re-reads.
 */
/** The key that tells a session's analyst that its end user is locked out of redeeming, and until when. */
export const lockoutKey = (sessionId: string) => `join:locked:${sessionId}`;

export async function toView(core: SessionCore, r: Row, known: { accounts?: Account[]; noGrants?: boolean } = {}): Promise<SessionView> {
  const held = (id: string) => known.accounts?.find((a) => a.id === id);
  const analyst =
    held(r.analyst_id) ??
    (await core.db.selectFrom('accounts').select(['id', 'username', 'display_name', 'organisation', 'kind']).where('id', '=', r.analyst_id).executeTakeFirst());
  const approver = r.approver_id
    ? (held(r.approver_id) ?? (await core.db.selectFrom('accounts').select(['username', 'display_name']).where('id', '=', r.approver_id).executeTakeFirst()))
    : undefined;
  const grants = known.noGrants ? [] : await core.db.selectFrom('grants').selectAll().where('session_id', '=', r.id).orderBy('requested_at').execute();
  return {
    id: r.id,
    state: r.state as SessionState,
    end_reason: (r.end_reason as EndReason | null) ?? null,
    ticket: r.ticket_ref,
    reason: r.reason,
    capabilities: r.capabilities.split(',') as Capability[],
    duration_minutes: Math.round(r.duration_s / 60),
    analyst: {
      id: r.analyst_id,
      username: analyst?.username ?? '(deleted)',
      display_name: analyst?.display_name ?? '(deleted)',
      organisation: analyst?.organisation ?? '',
      kind: (analyst?.kind ?? 'internal') as Account['kind'],
    },
    approval: {
      required: r.approval_required === 1,
      why: r.approval_why,
      approver: approver?.username ?? null,
      approver_name: approver?.display_name ?? null,
      approved_at: r.approved_at,
      deadline: r.approval_deadline,
      rejection_reason: r.decision_note,
    },
    code_expires_at: r.code_expires_at,
    join_locked_until: r.state === 'code_issued' ? await core.limits.heldUntil(lockoutKey(r.id), core.clock.now()) : null,
    offer_expires_at: r.offer_expires_at,
    activated_at: r.activated_at,
    expires_at: r.expires_at,
    hard_deadline: r.hard_deadline,
    created_at: r.created_at,
    ended_at: r.ended_at,
    grants: grants.map(
      (g): GrantView => ({
        capability: g.capability as Capability,
        state: g.state as GrantView['state'],
        requested_at: g.requested_at,
        decided_at: g.decided_at,
        revoked_at: g.revoked_at,
      }),
    ),
  };
}

/**
 * The requests for more time an approver has to decide, on live sessions, oldest first. Without
 * this list an approver could never learn an extension's id.
 */
export async function pendingExtensions(core: SessionCore): Promise<PendingExtension[]> {
  const rows = await core.db
    .selectFrom('extensions as e')
    .innerJoin('sessions as s', 's.id', 'e.session_id')
    .leftJoin('accounts as a', 'a.id', 's.analyst_id')
    .select(['e.id', 'e.session_id', 'e.minutes', 'e.requested_at', 's.ticket_ref', 's.reason', 's.capabilities', 's.expires_at', 's.hard_deadline', 's.analyst_id', 'a.username', 'a.display_name', 'a.organisation', 'a.kind'])
    .where('e.state', '=', 'awaiting_approval')
    .where('s.state', '=', 'active')
    .orderBy('e.requested_at')
    .limit(200)
    .execute();
  return rows.map((x) => ({
    id: x.id,
    session_id: x.session_id,
    ticket: x.ticket_ref,
    minutes: x.minutes,
    requested_at: x.requested_at,
    reason: x.reason,
    capabilities: x.capabilities.split(',') as Capability[],
    expires_at: x.expires_at,
    hard_deadline: x.hard_deadline,
    analyst: { id: x.analyst_id, username: x.username ?? '(deleted)', display_name: x.display_name ?? '(deleted)', organisation: x.organisation ?? '', kind: (x.kind ?? 'internal') as Account['kind'] },
  }));
}
