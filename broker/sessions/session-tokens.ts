import type { Selectable } from 'kysely';
import type { SessionRole } from '../../common/roles.js';
import type { Account } from '../auth/account.js';
import { issueTurnCredentials } from '../turn.js';
import type { SessionCore } from './core.js';
import type { LiveSession } from './live.js';
import { mustLive } from './tracking.js';
import { deny } from './moves.js';
import { readRow } from './queries.js';
import { prepared } from '../storage/prepared.js';
import type { SessionTokensTable } from '../storage/schema.js';
import { endSession } from './ending.js';
import { tokenAndRefresh } from './replicas.js';
import { SYSTEM, accountActor, type IssuedSessionToken } from './types.js';

/**
 * Session tokens open signaling for one party of one active session. Each is bound to that
 * party's device key, expires with the session, is recorded (so ending revokes it) and comes with
 * TURN credentials that expire no later than the session either.
 */

const insertToken = prepared<{ jti: string; sid: string; role: SessionRole; jkt: string; expiresAt: number }, never>((db, p) =>
  db.insertInto('session_tokens').values({ jti: p('jti'), session_id: p('sid'), role: p('role'), jkt: p('jkt'), expires_at: p('expiresAt'), revoked_at: null }),
);

export async function issueSessionToken(core: SessionCore, live: LiveSession, role: SessionRole, sub: string, jkt: string): Promise<IssuedSessionToken> {
  const expiresAt = live.expiresAt!;
  const { token, jti } = await core.tokens.sign('session', { sid: live.id, role, sub, caps: live.capabilities, cnf: { jkt } }, expiresAt);
  await insertToken.run(core.db, { jti, sid: live.id, role, jkt, expiresAt });
  core.audit.record({ type: 'token.issued', outcome: 'success', actor: role === 'analyst' ? `account:${live.analystUsername}` : `end_user:${jkt.slice(0, 16)}`, source: null, session_id: live.id, ticket: live.ticket, meta: { role, jti, exp: Math.floor(expiresAt / 1000) } });
  return { token, expires_at: expiresAt, ice_servers: iceServers(core, live, role) };
}

function iceServers(core: SessionCore, live: LiveSession, role: SessionRole): IssuedSessionToken['ice_servers'] {
  if (!core.cfg.turn || live.expiresAt === null) return [];
  const c = issueTurnCredentials(core.cfg.turn, { sessionId: live.id, role, sessionExpiresAtMs: live.expiresAt, nowMs: core.clock.now() });
  return [{ urls: c.urls, username: c.username, credential: c.credential }];
}

/** The analyst's token, bound to the device key the request was signed with. */
export async function analystToken(core: SessionCore, analyst: Account, deviceJkt: string, id: string, source: string | null): Promise<IssuedSessionToken> {
  const r = await readRow(core, id);
  const actor = accountActor(analyst, source);
  if (r.analyst_id !== analyst.id) await deny(core, actor, r, 'forbidden', 'only the requesting analyst can join this session');
  if (r.state !== 'active') {
    await deny(core, actor, r, 'not_active', `the session is ${r.state}, not active`, 'conflict');
  }
  return issueSessionToken(core, mustLive(core, r), 'analyst', analyst.id, deviceJkt);
}

/**
 * Checks a session token presented on signaling: not revoked, for a live active session, and,
 * for the analyst, an account that still counts (enabled, on the epoch the session was asked
 * under). A change this broker was not told of ends the session here rather than a moment later.
 */
const tokenByJti = prepared<{ jti: string }, Selectable<SessionTokensTable>>((db, p) => db.selectFrom('session_tokens').selectAll().where('jti', '=', p('jti')));
const analystStanding = prepared<{ id: string }, { disabled: number; token_epoch: number }>((db, p) => db.selectFrom('accounts').select(['disabled', 'token_epoch']).where('id', '=', p('id')));

export async function checkSessionToken(core: SessionCore, jti: string, sid: string): Promise<LiveSession | null> {
  // In a cluster this instance's copy may be older than the row (moved on another instance): the
  // token is read with the row, and the copy refreshed from it.
  const { token: t, live } = core.placement ? await tokenAndRefresh(core, jti, sid) : { token: await tokenByJti.first(core.db, { jti }), live: core.live.get(sid) };
  if (!t || t.revoked_at !== null || t.session_id !== sid) return null;
  if (!live || live.state !== 'active') return null;
  if (t.role === 'analyst') {
    const a = await analystStanding.first(core.db, { id: live.analystId });
    if (!a || a.disabled || a.token_epoch !== live.analystEpoch) {
      await endSession(core, sid, 'account_revoked', SYSTEM, {}, { why: 'tokens revoked', by: 'signaling' }).catch(() => undefined);
      return null;
    }
  }
  return live;
}
