import { sql } from 'kysely';
import { isGrantable, type Capability, type GrantableCapability } from '../../common/capabilities.js';
import type { EndReason, SessionState } from '../../common/session-state.js';
import type { Row, SessionCore } from './core.js';
import { dropPendingGrants } from './grants.js';
import { stopWatch } from './live.js';
import { clearTimers, type LiveSession } from './live.js';
import { scheduleTimers } from './timers.js';
import { track } from './tracking.js';
import { prepared } from '../storage/prepared.js';

/**
 * Cluster mode (broker/cluster/): every instance may hold a copy of a live session (for the
 * sockets it holds, or after an HTTP call it served); the stored row is the truth and the lease
 * holder runs the timers. These keep the copies in step with the row.
 */

type RowWithExtras = Row & { analyst_username: string | null; granted_caps: string | null };

/**
 * The row with what a copy needs besides it (the analyst's name, the grants in force) in one
 * round trip: an instance reads it for every socket it authenticates and every re-arm it is told of.
 */
const grantedCaps = (agg: 'string_agg' | 'group_concat') =>
  sql<string | null>`(select ${sql.raw(agg)}(grants.capability, ',') from grants where grants.session_id = sessions.id and grants.state = 'granted')`;
const rowWithExtras = (agg: 'string_agg' | 'group_concat') =>
  prepared<{ id: string }, RowWithExtras>((db, p) =>
    db
      .selectFrom('sessions')
      .selectAll('sessions')
      .select((eb) => [eb.selectFrom('accounts').select('accounts.username').whereRef('accounts.id', '=', 'sessions.analyst_id').as('analyst_username'), grantedCaps(agg).as('granted_caps')])
      .where('sessions.id', '=', p('id')),
  );
const rowWithExtrasPg = rowWithExtras('string_agg');
const rowWithExtrasSqlite = rowWithExtras('group_concat');

/** What a session token presented on signaling says of itself, read with its session's row. */
export interface PresentedToken {
  session_id: string;
  role: string;
  revoked_at: number | null;
}
type TokenWithRow = RowWithExtras & { token_session_id: string; token_role: string; token_revoked_at: number | null };
const tokenWithRow = (agg: 'string_agg' | 'group_concat') =>
  prepared<{ jti: string }, TokenWithRow>((db, p) =>
    db
      .selectFrom('session_tokens')
      .innerJoin('sessions', 'sessions.id', 'session_tokens.session_id')
      .selectAll('sessions')
      .select((eb) => [
        eb.selectFrom('accounts').select('accounts.username').whereRef('accounts.id', '=', 'sessions.analyst_id').as('analyst_username'),
        grantedCaps(agg).as('granted_caps'),
        'session_tokens.session_id as token_session_id',
        'session_tokens.role as token_role',
        'session_tokens.revoked_at as token_revoked_at',
      ])
      .where('session_tokens.jti', '=', p('jti')),
  );
const tokenWithRowPg = tokenWithRow('string_agg');
const tokenWithRowSqlite = tokenWithRow('group_concat');

/** Brings this instance's copy of a session in line with its stored row (null: it has ended). */
export async function refreshFromRow(core: SessionCore, sessionId: string): Promise<{ live: LiveSession; row: Row } | null> {
  const got = await (core.engine === 'postgres' ? rowWithExtrasPg : rowWithExtrasSqlite).first(core.db, { id: sessionId });
  return got ? applyRow(core, got) : null;
}

/**
 * A session token presented on signaling, and this instance's copy of its session refreshed from
 * the row, in one round trip (the socket's instance may never have seen the session move). The
 * copy is touched only when the token is for `sid`; null token: no such token.
 */
export async function tokenAndRefresh(core: SessionCore, jti: string, sid: string): Promise<{ token: PresentedToken | null; live: LiveSession | null }> {
  const got = await (core.engine === 'postgres' ? tokenWithRowPg : tokenWithRowSqlite).first(core.db, { jti });
  if (!got) return { token: null, live: null };
  const { token_session_id, token_role, token_revoked_at, ...rest } = got;
  const token = { session_id: token_session_id, role: token_role, revoked_at: token_revoked_at };
  if (token.session_id !== sid || token.revoked_at !== null) return { token, live: null };
  return { token, live: applyRow(core, rest)?.live ?? null };
}

function applyRow(core: SessionCore, got: RowWithExtras): { live: LiveSession; row: Row } | null {
  const { analyst_username, granted_caps, ...r } = got;
  if (r.state === 'ended') {
    dropCopy(core, r.id, (r.end_reason ?? 'completed') as EndReason);
    return null;
  }
  const live = core.live.get(r.id) ?? track(core, r, analyst_username ?? '');
  live.state = r.state as SessionState;
  live.expiresAt = r.expires_at;
  live.hardDeadline = r.hard_deadline;
  live.endUserJkt = r.end_user_jkt;
  if (r.state === 'active') {
    live.granted = new Set((granted_caps ? granted_caps.split(',') : []).map((c) => c as Capability).filter(isGrantable) as GrantableCapability[]);
  }
  return { live, row: r };
}

/**
 * This instance now holds the session's lease: arm its timers from the stored row. On a takeover
 * (the previous holder died) what lived only in that instance's memory lapses, as after a
 * restart: a grant request nobody can answer any more is denied, a pending extension lapses.
 */
export async function armOwned(core: SessionCore, sessionId: string, takeover: boolean): Promise<void> {
  if (takeover) {
    const now = core.clock.now();
    await core.db.updateTable('grants').set({ state: 'denied', decided_at: now }).where('session_id', '=', sessionId).where('state', '=', 'requested').execute();
    await core.db.updateTable('extensions').set({ state: 'lapsed', decided_at: now }).where('session_id', '=', sessionId).where('state', 'in', ['awaiting_approval', 'awaiting_consent']).execute();
  }
  const got = await refreshFromRow(core, sessionId);
  if (!got) return;
  if (takeover) {
    dropPendingGrants(got.live);
    got.live.pendingExtension = null;
  }
  scheduleTimers(core, got.live, got.row);
  // Told of a change (a watcher joined or left on another instance) or taking over: the watcher
  // requirement is decided here now, from the store.
  if (got.row.state === 'active') await core.watch.reload(got.live, got.row);
}

/** The lease went to another instance: its timers stop here (the copy stays for the sockets). */
export function disarm(core: SessionCore, sessionId: string): void {
  const live = core.live.get(sessionId);
  if (live) clearTimers(live);
}

/** The session ended on another instance: drop the copy, and the hub closes the sockets held here. */
export function dropCopy(core: SessionCore, sessionId: string, reason: EndReason): void {
  const live = core.live.get(sessionId);
  if (!live) return;
  live.state = 'ended';
  clearTimers(live);
  dropPendingGrants(live);
  stopWatch(live);
  core.live.delete(sessionId);
  core.events?.ended(live, reason);
}
