import type { Kysely } from 'kysely';
import type { AuditMeta } from '../../common/audit-chain.js';
import { checkTransition, type SessionState, type Transition } from '../../common/session-state.js';
import { DomainError, conflict, type DomainErrorKind } from '../domain-errors.js';
import type { Database } from '../storage/schema.js';
import { prepared, type Prepared } from '../storage/prepared.js';
import type { Row, SessionCore } from './core.js';
import type { LiveSession } from './live.js';
import { readRow } from './queries.js';
import type { Actor } from './types.js';

/**
 * The one way a session changes state. A move is checked against common/session-state's rule
 * book and written only if the stored row is still the version it was decided on, so two racing
 * requests cannot both win; a refused move is audited. Ending uses the same primitive
 * (ending.ts), with its own audit record.
 */

/** Every move but the end (which has its own audit record, see ending.ts). */
export type ForwardMove = Extract<Transition, { to: Exclude<SessionState, 'ended'> }>;

/**
 * Checks the move, then applies `patch` plus the new state and version if the stored row is
 * still the version `r` was read as. Returns the row as it now stands, or null when another
 * request changed the session first.
 */
export async function applyMove(core: SessionCore, r: Row, t: Transition, actor: Actor, patch: Partial<Row>, db: Kysely<Database> = core.db): Promise<Row | null> {
  const check = checkTransition(r.state as SessionState, t);
  if (!check.ok) await refuseTransition(core, actor, r, t);
  const next = { ...patch, state: t.to, version: r.version + 1 };
  const cols = Object.keys(next).filter((k) => next[k as keyof typeof next] !== undefined);
  // Plain values only are bound through the compiled form; anything else (none today) is built as before.
  const update = cols.every((k) => typeof next[k as keyof typeof next] !== 'object' || next[k as keyof typeof next] === null) ? updateOf(cols) : null;
  const res = update
    ? await update.run(db, { ...next, at_id: r.id, at_version: r.version })
    : { numAffectedRows: (await db.updateTable('sessions').set(next).where('id', '=', r.id).where('version', '=', r.version).executeTakeFirst()).numUpdatedRows };
  if (Number(res.numAffectedRows) !== 1) return null;
  return { ...r, ...next };
}

type MoveParams = Record<string, unknown> & { at_id: string; at_version: number };
const updates = new Map<string, Prepared<MoveParams, never>>();
/** The versioned update for one set of columns, compiled once (storage/prepared.ts); the code has few such sets. */
function updateOf(cols: string[]): Prepared<MoveParams, never> | null {
  const key = cols.join(',');
  let u = updates.get(key);
  if (!u) {
    if (updates.size >= 64) return null;
    u = prepared<MoveParams, never>((d, p) =>
      d
        .updateTable('sessions')
        .set(Object.fromEntries(cols.map((c) => [c, p(c)])))
        .where('id', '=', p('at_id'))
        .where('version', '=', p('at_version')),
    );
    updates.set(key, u);
  }
  return u;
}

/** Another request moved the session first: refused against the state it is in now. */
export async function lostRace(core: SessionCore, actor: Actor, id: string, t: Transition): Promise<never> {
  return refuseTransition(core, actor, await readRow(core, id), t);
}

/** A forward move, audited as `session.<state>`; a lost race is refused (409, audited). */
export async function move(core: SessionCore, live: LiveSession, r: Row, t: ForwardMove, actor: Actor, patch: Partial<Row>, meta: AuditMeta = {}): Promise<Row> {
  const moved = (await applyMove(core, r, t, actor, patch)) ?? (await lostRace(core, actor, r.id, t));
  await recordMove(core, live, r, t, actor, meta);
  return moved;
}

/** A forward move that may lose a race quietly (null), for callers with their own answer to it. */
export async function tryMove(core: SessionCore, live: LiveSession, r: Row, t: ForwardMove, actor: Actor, patch: Partial<Row>, meta: AuditMeta = {}): Promise<Row | null> {
  const moved = await applyMove(core, r, t, actor, patch);
  if (moved) await recordMove(core, live, r, t, actor, meta);
  return moved;
}

export async function recordMove(core: SessionCore, live: LiveSession, from: Row, t: ForwardMove, actor: Actor, meta: AuditMeta): Promise<void> {
  live.state = t.to;
  core.stateWatch.notify(live.id, t.to);
  await core.audit.append({ type: `session.${t.to}`, outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { ...meta, from: from.state } });
}

export async function refuseTransition(core: SessionCore, actor: Actor, r: Pick<Row, 'id' | 'ticket_ref' | 'state'>, t: Transition): Promise<never> {
  const target = t.to === 'ended' ? `ended(${t.reason})` : t.to;
  await core.audit.refused({ type: 'session.transition_refused', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { from: r.state, to: target } });
  throw conflict(`the session is ${r.state}; it cannot move to ${target}`, 'illegal_transition');
}

/** Someone not allowed to act on this session tried to: audited, then refused. */
export async function deny(core: SessionCore, actor: Actor, r: Row, code: string, message: string, kind: DomainErrorKind = 'forbidden'): Promise<never> {
  await core.audit.refused({ type: 'session.action_denied', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { code } });
  throw new DomainError(kind, code, message);
}
