import crypto from 'node:crypto';
import { sql } from 'kysely';
import { checkTransition, type SessionState } from '../../common/session-state.js';
import { codeFromBytes, formatJoinCode, normalizeJoinCode } from '../../common/join-code.js';
import type { CodeResult, RedeemResult } from '../../common/protocol/responses.js';
import type { Account } from '../auth/account.js';
import { sha256b64url } from '../auth/dpop.js';
import { notFound, rateLimited, unavailable, conflict } from '../domain-errors.js';
import { sourceKey, sourceRefusalKey } from '../rate-limit.js';
import type { Row, SessionCore } from './core.js';
import { endSession } from './ending.js';
import { mustLive } from './tracking.js';
import { applyMove, deny, lostRace, recordMove, refuseTransition, tryMove } from './moves.js';
import { signOffer } from './offer.js';
import { lockoutKey, readRow } from './queries.js';
import { scheduleTimers } from './timers.js';
import { SYSTEM, accountActor, endUserActor, type Actor } from './types.js';
import { prepared } from '../storage/prepared.js';

const liveCodeCount = prepared<Record<string, never>, { n: number }>((db) => db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'code_issued'));
const sessionByCode = prepared<{ hash: string }, Row>((db, p) => db.selectFrom('sessions').selectAll().where('code_hash', '=', p('hash')));

/**
 * Join codes: the analyst issues a single-use code and reads it to the end user, whose client
 * redeems it with its device key. Wrong codes are counted per device, per source and across all sources
 * (docs/join-codes.md has the guessing arithmetic), in the shared counters (storage/limits.ts).
 */

const hashCode = (code: string) => crypto.createHash('sha256').update(`chaperone-join-code:${code}`).digest('hex');

const GLOBAL_KEY = 'join:global';
/** The advisory lock that serialises issuing codes against the cap on PostgreSQL. */
const LIVE_CODES_LOCK = 7263540002;

export async function issueCode(core: SessionCore, analyst: Account, id: string, source: string | null): Promise<CodeResult> {
  const actor = accountActor(analyst, source);
  const r = await readRow(core, id);
  if (r.analyst_id !== analyst.id) await deny(core, actor, r, 'forbidden', 'only the requesting analyst can issue the join code');
  const now = core.clock.now();
  if (r.state === 'approved' && r.approval_deadline !== null && r.approval_deadline <= now) {
    await endSession(core, id, 'expired', SYSTEM, {}, { why: 'approval lapsed before a code was issued' });
    throw conflict('the approval lapsed before a code was issued; request a new session', 'approval_lapsed');
  }
  const t = { to: 'code_issued' } as const;
  if (!checkTransition(r.state as SessionState, t).ok) await refuseTransition(core, actor, r, t);
  const code = codeFromBytes(crypto.randomBytes(16));
  const expiresAt = now + core.cfg.policy.code_ttl_minutes * 60_000;
  const live = mustLive(core, r);
  // The count of live codes and the move are one transaction (serialised on PostgreSQL by an
  // advisory lock), so codes issued at the same moment cannot all fit under the cap.
  const outcome = await core.db.transaction().execute(async (trx) => {
    if (core.engine === 'postgres') await sql`SELECT pg_advisory_xact_lock(${LIVE_CODES_LOCK})`.execute(trx);
    const liveCodes = (await liveCodeCount.first(trx, {}))!;
    if (Number(liveCodes.n) >= core.cfg.rateLimits.max_live_codes) return 'full' as const;
    return applyMove(core, r, t, actor, { code_hash: hashCode(code), code_expires_at: expiresAt }, trx);
  });
  if (outcome === 'full') {
    await core.audit.refused({ type: 'join.code_capacity', outcome: 'denied', ...actor, session_id: id, ticket: r.ticket_ref, meta: {} });
    throw unavailable('too many join codes are live; try again in a few minutes', 'too_many_live_codes');
  }
  const moved = outcome ?? (await lostRace(core, actor, id, t));
  await recordMove(core, live, r, t, actor, {});
  scheduleTimers(core, live, moved);
  return { code, code_display: formatJoinCode(code), expires_at: expiresAt, join_url: `${core.cfg.publicUrl.replace(/\/+$/, '')}/join/${formatJoinCode(code)}` };
}

type LimitScope = 'device' | 'source' | 'global';

/**
 * The counters one redemption is counted in, narrowest first. The device's own count locks out the
 * person who keeps mistyping without holding back others behind the same address; the source's
 * count bounds a guesser who makes a new device key for every guess; the global count is what the
 * guessing arithmetic rests on (docs/join-codes.md).
 */
function joinCounters(core: SessionCore, jkt: string, source: string | null): { key: string; limit: number; scope: LimitScope }[] {
  const rl = core.cfg.rateLimits;
  const src = sourceKey(source ?? 'unknown');
  return [
    { key: `join:device:${src}:${jkt}`, limit: rl.join_failures_per_device, scope: 'device' },
    { key: `join:source:${src}`, limit: rl.join_failures_per_source, scope: 'source' },
    { key: GLOBAL_KEY, limit: rl.join_failures_global, scope: 'global' },
  ];
}

/**
 * A redemption past a limit is refused whatever the code, with how long to wait. When the code
 * is a live one, its analyst is told that the end user is locked out: the answer to the caller is
 * the same either way, so this tells a guesser nothing.
 */
async function refuseLimited(core: SessionCore, rawCode: string, actor: Actor, source: string | null, scope: LimitScope, resetAt: number, now: number): Promise<never> {
  const code = normalizeJoinCode(rawCode);
  const r = code ? await core.db.selectFrom('sessions').select('id').where('code_hash', '=', hashCode(code)).where('state', '=', 'code_issued').executeTakeFirst() : undefined;
  if (r) await core.limits.holdUntil(lockoutKey(r.id), resetAt, now);
  // A guesser can use a fresh device key each time: one source's refusals are throttled together.
  await core.audit.refused({ type: 'join.rate_limited', outcome: 'denied', ...actor, session_id: r?.id ?? null, meta: { scope, until: resetAt } }, sourceRefusalKey('join.rate_limited', source, r ? r.id : ''));
  const waitS = Math.max(1, Math.ceil((resetAt - now) / 1000));
  throw rateLimited(`too many wrong join codes; try again in ${Math.ceil(waitS / 60)} minute(s) and check the code with your support contact`, 'rate_limited', waitS);
}

/**
 * The end user's client redeems a code with its device key and gets the signed consent offer.
 * Each attempt is counted (per device at its source, per source, then across all sources) before
 * the code is looked at, and given back when the code was right: attempts arriving together are all counted, so no more
 * of them are evaluated than the limits allow.
 */
export async function redeem(core: SessionCore, rawCode: string, device: { jkt: string }, source: string | null): Promise<RedeemResult> {
  const now = core.clock.now();
  const windowMs = core.cfg.rateLimits.join_failure_window_minutes * 60_000;
  const actor = endUserActor(device.jkt, source);
  const counters = joinCounters(core, device.jkt, source);
  for (const c of counters) {
    const hit = await core.limits.hit(c.key, windowMs, now);
    if (hit.count > c.limit) return refuseLimited(core, rawCode, actor, source, c.scope, hit.resetAt, now);
  }
  const code = normalizeJoinCode(rawCode);
  const fail = async (why: string, sessionId: string | null = null): Promise<never> => {
    // The attempt stays counted: it was a wrong code.
    await core.audit.refused({ type: 'join.redeem_failed', outcome: 'failure', ...actor, session_id: sessionId, meta: { why } }, sourceRefusalKey('join.redeem_failed', source));
    throw notFound('this code is not valid: it may be mistyped, already used or expired', 'invalid_code');
  };
  if (!code) return fail('malformed');
  const r = await sessionByCode.first(core.db, { hash: hashCode(code) });
  if (!r) return fail('unknown');
  if (r.state !== 'code_issued') return fail('already_used', r.id);
  if (r.code_expires_at !== null && r.code_expires_at <= now) {
    await endSession(core, r.id, 'code_expired', SYSTEM).catch(() => undefined);
    return fail('expired', r.id);
  }
  const offerExpiresAt = now + core.cfg.policy.offer_ttl_seconds * 1000;
  const { offer, watchers } = await signOffer(core, r, device.jkt, offerExpiresAt);
  const live = mustLive(core, r);
  // The conditional update is what makes two simultaneous redemptions of one code end with one winner.
  const won = await tryMove(
    core,
    live,
    r,
    { to: 'pending_consent' },
    actor,
    { end_user_jkt: device.jkt, offer_hash: sha256b64url(offer), offer_expires_at: offerExpiresAt, code_hash: null, watch_terms: JSON.stringify(watchers) },
    // The signed offer itself is chained: the evidence bundle takes it from here and checks it against the receipt.
    { device: device.jkt, offer },
  );
  if (!won) return fail('lost_race', r.id);
  // A right code is not a wrong one: its attempt is given back.
  for (const c of counters) await core.limits.refund(c.key, now);
  live.endUserJkt = device.jkt;
  scheduleTimers(core, live, won);
  return { session_id: r.id, offer, offer_expires_at: offerExpiresAt };
}
