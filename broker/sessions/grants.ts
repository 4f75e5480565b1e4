import crypto from 'node:crypto';
import type { GrantableCapability } from '../../common/capabilities.js';
import type { ControlRefusal } from '../../common/control/refusals.js';
import { needsDirection, type GrantDirection } from '../../common/grant-direction.js';
import type { SessionRole } from '../../common/roles.js';
import { ageText, needsStepUp } from '../../common/step-up.js';
import { conflict, forbidden } from '../domain-errors.js';
import type { SessionCore } from './core.js';
import type { LiveSession } from './live.js';
import type { Actor } from './types.js';

/**
 * Grants inside an active session: control, clipboard and files are asked for one by one, given
 * by the end user's click, and can be taken back at any moment. Only what the session was
 * approved for can be asked for. (What the end user's client dropped at the end: teardown.ts.)
 */

/** How many grant requests may wait for the end user's answer at once. */
const MAX_PENDING_GRANTS = 4;
/** The broker answers an unanswered request this long after the end user's prompt has timed out. */
const PROMPT_GRACE_MS = 2000;

/**
 * `direction`: which way clipboard text or files may go (required for those two, absent for
 * control); it is shown to the end user, part of the answer and of every audit record.
 */
export async function requestGrant(core: SessionCore, live: LiveSession, requestId: string, capability: GrantableCapability, actor: Actor, asked?: GrantDirection): Promise<void> {
  // A clipboard or files request that names no way asks for both, and the end user is asked exactly that.
  const direction = asked ?? (needsDirection(capability) ? 'both' : undefined);
  const dir = { ...(direction ? { direction } : {}) };
  const refused = async (why: string, code: string, message: string, kind: 'forbidden' | 'conflict' = 'conflict'): Promise<never> => {
    await core.audit.refused({ type: 'grant.refused', outcome: 'denied', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, ...dir, request_id: requestId, why } });
    throw kind === 'forbidden' ? forbidden(message, code) : conflict(message, code);
  };
  if (!live.capabilities.includes(capability)) return refused('not approved for this session', 'capability_not_approved', `${capability} was not approved for this session`, 'forbidden');
  if ((core.cfg.policy.denied_capabilities as readonly string[]).includes(capability)) return refused('denied by policy', 'capability_denied_by_policy', `policy does not allow ${capability}`, 'forbidden');
  if (!needsDirection(capability) && asked !== undefined) return refused('direction not applicable', 'bad_direction', `${capability} has no direction`);
  if (live.pendingGrants.has(requestId)) return refused('request id already used', 'duplicate_request', 'a request with that id was already made');
  if (live.granted.has(capability)) throw conflict(`${capability} is already granted`, 'already_granted');
  if (capability === 'control' && live.recording?.suspended) {
    return refused('recording stalled', 'recording_stalled', 'control is suspended until the recording reaches the broker again');
  }
  if (capability === 'control') {
    const watch = await core.watch.controlRefusal(live);
    if (watch) return refused(watch.why, watch.code, watch.message);
  }
  const mfaAt = await analystMfaAt(core, live);
  if (needsStepUp(capability)) {
    const limit = core.cfg.policy.step_up_minutes;
    const now = core.clock.now();
    if (mfaAt === 0 || now - mfaAt > limit * 60_000) {
      const last = mfaAt === 0 ? 'there was none yet' : `your last one was ${ageText(mfaAt, now)}`;
      return refused('second factor not fresh', 'step_up_required', `${capability} needs a second factor from the last ${limit} minutes and ${last}: confirm it is you with your authenticator code`, 'forbidden');
    }
  }
  if (live.pendingGrants.size >= MAX_PENDING_GRANTS) throw conflict('too many grant requests are waiting for an answer', 'too_many_pending');
  const grantId = crypto.randomUUID();
  const now = core.clock.now();
  // The unique (session, request id) index binds the id to this request for good, also after a restart.
  const ins = await core.db
    .insertInto('grants')
    .values({ id: grantId, session_id: live.id, capability, state: 'requested', requested_at: now, decided_at: null, revoked_at: null, revoked_by: null, request_id: requestId })
    .onConflict((oc) => oc.columns(['session_id', 'request_id']).doNothing())
    .executeTakeFirst();
  if (Number(ins.numInsertedOrUpdatedRows ?? 0) !== 1) return refused('request id already used', 'duplicate_request', 'a request with that id was already made');
  const afterMs = core.cfg.policy.control_prompt_seconds * 1000 + PROMPT_GRACE_MS;
  const cancelTimeout = core.clock.at(now + afterMs, () => {
    timeOut(core, live, requestId, grantId, afterMs).catch((err: unknown) => process.stderr.write(`grant timeout failed: ${String(err)}\n`));
  });
  live.pendingGrants.set(requestId, { capability, direction: direction ?? null, grantId, cancelTimeout });
  core.audit.record({ type: 'grant.requested', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, ...dir, request_id: requestId } });
  core.events?.grantRequested(live, requestId, capability, mfaAt, direction);
}

/** When the analyst last passed a second factor (sign-in or step-up), from the database, never from a frame. */
async function analystMfaAt(core: SessionCore, live: LiveSession): Promise<number> {
  const r = await core.db.selectFrom('accounts').select('mfa_at').where('id', '=', live.analystId).executeTakeFirst();
  return Number(r?.mfa_at ?? 0);
}

/** Nobody answered in time: the broker answers for the end user, no, and tells both sides why. */
async function timeOut(core: SessionCore, live: LiveSession, requestId: string, grantId: string, afterMs: number): Promise<void> {
  const p = live.pendingGrants.get(requestId);
  if (!p || p.grantId !== grantId || live.state !== 'active') return;
  live.pendingGrants.delete(requestId);
  await core.db.updateTable('grants').set({ state: 'denied', decided_at: core.clock.now() }).where('id', '=', grantId).where('state', '=', 'requested').execute();
  await core.audit.append({ type: 'grant.timed_out', outcome: 'success', actor: 'system', source: null, session_id: live.id, ticket: live.ticket, meta: { capability: p.capability, ...dirOf(p.direction), request_id: requestId, after_s: afterMs / 1000 } });
  core.events?.grantChanged(live, p.capability, false, 'broker', requestId, 'timeout', p.direction ?? undefined);
}

function dirOf(d: GrantDirection | null | undefined): { direction?: GrantDirection } {
  return d ? { direction: d } : {};
}

/**
 * The end user's answer; it must name the capability and the direction the request asked for
 * (what was shown; no direction means both, as in the request). `reason`: the end user's machine refused although the end user allowed
 * (Wayland, a macOS permission).
 */
export async function respondGrant(core: SessionCore, live: LiveSession, requestId: string, capability: GrantableCapability, allow: boolean, actor: Actor, reason?: ControlRefusal, answered?: GrantDirection): Promise<void> {
  const p = live.pendingGrants.get(requestId);
  if (!p) throw conflict('no grant request with that id is waiting', 'unknown_request');
  const direction = answered ?? (needsDirection(capability) ? 'both' : undefined);
  if (p.capability !== capability || (p.direction ?? undefined) !== direction) {
    const what = p.capability !== capability ? 'capability' : 'direction';
    await core.audit.refused({ type: 'grant.refused', outcome: 'denied', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, ...dirOf(direction), asked: p.capability, ...(p.direction ? { asked_direction: p.direction } : {}), request_id: requestId, why: `answer names another ${what}` } });
    throw conflict(`request ${requestId} asked for ${p.capability}${p.direction ? ` (${p.direction})` : ''}, not ${capability}${direction ? ` (${direction})` : ''}`, 'grant_mismatch');
  }
  live.pendingGrants.delete(requestId);
  p.cancelTimeout();
  await core.db.updateTable('grants').set({ state: allow ? 'granted' : 'denied', decided_at: core.clock.now() }).where('id', '=', p.grantId).execute();
  if (allow) {
    live.granted.add(p.capability);
    if (p.direction) live.grantDirections.set(p.capability, p.direction);
  }
  await core.audit.append({ type: allow ? 'grant.granted' : 'grant.denied', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability: p.capability, ...dirOf(p.direction), request_id: requestId, ...(reason && !allow ? { reason } : {}) } });
  core.events?.grantChanged(live, p.capability, allow, 'end_user', requestId, allow ? undefined : reason, p.direction ?? undefined);
}

/** The session ended: requests still waiting are answered by the end itself, their timers go. */
export function dropPendingGrants(live: LiveSession): void {
  for (const p of live.pendingGrants.values()) p.cancelTimeout();
  live.pendingGrants.clear();
}

export async function revokeGrant(core: SessionCore, live: LiveSession, capability: GrantableCapability, by: SessionRole, actor: Actor): Promise<void> {
  if (!live.granted.has(capability)) throw conflict(`${capability} is not granted`, 'not_granted');
  live.granted.delete(capability);
  const direction = live.grantDirections.get(capability);
  live.grantDirections.delete(capability);
  await core.db.updateTable('grants').set({ state: 'revoked', revoked_at: core.clock.now(), revoked_by: by }).where('session_id', '=', live.id).where('capability', '=', capability).where('state', '=', 'granted').execute();
  await core.audit.append({ type: 'grant.revoked', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, ...dirOf(direction), by } });
  core.events?.grantChanged(live, capability, false, by, undefined, undefined, direction);
}
