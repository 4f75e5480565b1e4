import crypto from 'node:crypto';
import type { GrantableCapability } from '../../common/capabilities.js';
import type { ControlState, LiveSessionRow, PresenceEntry, SuspendReason } from '../../common/protocol/watch.js';
import { WatchTermsSchema, type WatcherRole, type WatchTerms } from '../../common/watch.js';
import type { Account } from '../auth/account.js';
import { conflict, forbidden, DomainError } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import { endSession } from './ending.js';
import type { LiveSession } from './live.js';
import { readRow, toView } from './queries.js';
import { SYSTEM, accountActor, type Actor, type SessionView } from './types.js';

/**
 * Monitored sessions (issue 12): who watches a live session, what the watcher requirement of its
 * offer needs, and the watchers' moderation (suspend and resume control, a note, the end).
 * Presence is broker state pushed to everyone in the session (SessionEvents); the end user's
 * gate is what locks input while control is suspended, and the broker refuses control requests
 * meanwhile. Docs: docs/api.md "Watching a session".
 */

/** A watch ticket opens one socket within this long. */
export const WATCH_TICKET_MS = 60_000;

export interface Watcher {
  id: string;
  accountId: string;
  username: string;
  name: string;
  role: WatcherRole;
  organisation: string;
  since: number;
  /** Counts towards the requirement: in one of its roles, and not the approver of the session. */
  counts: boolean;
}

export interface LiveWatch {
  terms: WatchTerms;
  analyst: { name: string; organisation: string; since: number };
  approverId: string | null;
  watchers: Map<string, Watcher>;
  /** A watcher's suspension of control (kept in the row too, so it outlives a restart). */
  suspendedBy: { name: string; note: string | null } | null;
  /** When the requirement was first met: a leave below it suspends from then on. */
  metAt: number | null;
  /** Too few required watchers (after they were once enough); with on_leave end, the session ends at endsAt. */
  short: { since: number; endsAt: number | null; cancel: (() => void) | null } | null;
}

/** The offer's terms as stored; a session offered before watchers existed allows none (nobody consented to them). */
export function termsOfRow(r: Pick<Row, 'watch_terms'>): WatchTerms {
  if (!r.watch_terms) return { allowed: false, required: null };
  try {
    const p = WatchTermsSchema.safeParse(JSON.parse(r.watch_terms));
    return p.success ? p.data : { allowed: false, required: null };
  } catch {
    return { allowed: false, required: null };
  }
}

/**
 * The watch state of a live session, loaded from its row the first time it is needed here. After
 * a restart no watcher is connected: a session whose requirement had been met starts short of
 * watchers (control suspended, the grace running), as if they had all just left.
 */
export async function loadWatch(core: SessionCore, live: LiveSession, r?: Row): Promise<LiveWatch> {
  if (live.watch) return live.watch;
  const row = r ?? (await readRow(core, live.id));
  const a = await core.db.selectFrom('accounts').select(['display_name', 'organisation']).where('id', '=', row.analyst_id).executeTakeFirst();
  if (live.watch) return live.watch;
  const w: LiveWatch = {
    terms: termsOfRow(row),
    analyst: { name: a?.display_name ?? live.analystUsername, organisation: a?.organisation ?? '', since: row.activated_at ?? core.clock.now() },
    approverId: row.approver_id,
    watchers: new Map(),
    suspendedBy: row.control_suspended_by !== null ? { name: row.control_suspended_by, note: row.control_suspended_note } : null,
    metAt: row.watch_met_at,
    short: null,
  };
  live.watch = w;
  if (live.state === 'active') startShortIfNeeded(core, live, w);
  return w;
}

/** Timers of the watch state stop with the session here. */
export function stopWatch(live: LiveSession): void {
  live.watch?.short?.cancel?.();
  if (live.watch?.short) live.watch.short.cancel = null;
}

/** How many more watchers who count the requirement needs (0: met, or none applies). Distinct accounts: two tabs are one person. */
export function watchersNeeded(w: LiveWatch): number {
  const req = w.terms.required;
  if (!req) return 0;
  const counted = new Set([...w.watchers.values()].filter((x) => x.counts).map((x) => x.accountId));
  return Math.max(0, req.count - counted.size);
}

export function controlStateOf(w: LiveWatch | null): ControlState {
  const reasons: SuspendReason[] = [];
  if (w?.suspendedBy) reasons.push('by_watcher');
  if (w?.short) reasons.push('watcher_left');
  return { suspended: reasons.length > 0, reasons, by: w?.suspendedBy?.name ?? null, note: w?.suspendedBy?.note ?? null, ends_at: w?.short?.endsAt ?? null };
}

export function presenceOf(w: LiveWatch): PresenceEntry[] {
  const analyst: PresenceEntry = { id: 'analyst', kind: 'analyst', name: w.analyst.name, role: 'analyst', organisation: w.analyst.organisation, since: w.analyst.since };
  const watchers = [...w.watchers.values()].sort((a, b) => a.since - b.since).map((x): PresenceEntry => ({ id: x.id, kind: 'watcher', name: x.name, role: x.role, organisation: x.organisation, since: x.since }));
  return [analyst, ...watchers];
}

/**
 * Whether control may be asked for now: not while it is suspended (by a watcher, or a required
 * watcher left) nor while the requirement needs more watchers. The refusal's words are the analyst's.
 */
export async function controlRefusal(core: SessionCore, live: LiveSession): Promise<{ code: string; why: string; message: string } | null> {
  const w = await loadWatch(core, live);
  const c = controlStateOf(w);
  if (c.suspended) {
    const who = c.by ? `${c.by} (watching) suspended control` : 'a watcher this session needs has left, so control is suspended';
    return { code: 'control_suspended', why: 'control suspended', message: `${who}; you cannot ask for control until it is resumed` };
  }
  const need = watchersNeeded(w);
  if (need > 0) {
    const n = need === 1 ? 'one more watcher' : `${need} more watchers`;
    return { code: 'watchers_required', why: 'watchers required', message: `policy requires a supervisor watching this session before control: ${n} must join first` };
  }
  return null;
}

// ---------- joining and leaving

async function refuseWatch(core: SessionCore, actor: Actor, r: Row, why: string, err: DomainError): Promise<never> {
  await core.audit.refused({ type: 'watch.refused', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { why } }, `watch.refused|${r.id}|${actor.actor}`);
  throw err;
}

/** Checks that `account` may watch the session in `r` now; the role it watches as. */
async function mayWatch(core: SessionCore, account: Pick<Account, 'id' | 'roles'>, r: Row, actor: Actor): Promise<WatcherRole> {
  const role: WatcherRole | null = account.roles.includes('supervisor') ? 'supervisor' : account.roles.includes('admin') ? 'admin' : null;
  if (!role) return refuseWatch(core, actor, r, 'not a supervisor or admin', forbidden('only supervisors and admins may watch sessions', 'not_allowed'));
  if (r.analyst_id === account.id) return refuseWatch(core, actor, r, 'own session', forbidden('you cannot watch your own session', 'own_session'));
  if (r.state !== 'active') return refuseWatch(core, actor, r, 'not active', conflict('the session is not active', 'not_active'));
  if (!termsOfRow(r).allowed) return refuseWatch(core, actor, r, 'watchers not allowed', conflict('the end user was told nobody else would watch this session', 'watchers_not_allowed'));
  return role;
}

/** A ticket for the watch socket, bound to the caller's device key (docs/api.md "Watching a session"). */
export async function issueWatchTicket(core: SessionCore, account: Account, id: string, deviceJkt: string, source: string | null): Promise<{ token: string; expires_at: number; url: string }> {
  const r = await readRow(core, id);
  const actor = accountActor(account, source);
  await mayWatch(core, account, r, actor);
  const expiresAt = core.clock.now() + WATCH_TICKET_MS;
  const { token, jti } = await core.tokens.sign('watch', { sid: id, sub: account.username, cnf: { jkt: deviceJkt } }, expiresAt);
  await core.audit.append({ type: 'watch.ticket_issued', outcome: 'success', ...actor, session_id: id, ticket: r.ticket_ref, meta: { jti, expires_at: expiresAt } });
  return { token, expires_at: expiresAt, url: `/api/v1/sessions/${id}/watch` };
}

/**
 * A watch socket authenticated with a ticket (its signature, type, expiry and key binding
 * checked by the door): spent here, then the account checked again as it is now (disabled, a role
 * taken away since the ticket was issued), then the watcher is present and everyone is told.
 */
export async function joinWatch(core: SessionCore, t: { sid: string; username: string; jti: string; exp: number }, source: string | null): Promise<{ live: LiveSession; watcher: Watcher }> {
  const now = core.clock.now();
  if (!(await core.limits.claimOnce(`watch-ticket:${t.jti}`, t.exp * 1000 + 60_000, now))) throw new DomainError('unauthorized', 'ticket_used', 'this watch ticket was already used; ask for a new one');
  const r = await readRow(core, t.sid);
  const acc = await core.db.selectFrom('accounts').select(['id', 'username', 'display_name', 'organisation', 'roles', 'disabled']).where('username', '=', t.username).executeTakeFirst();
  const actor: Actor = { actor: `account:${t.username}`, source };
  if (!acc || acc.disabled) return refuseWatch(core, actor, r, 'account disabled', new DomainError('unauthorized', 'account_disabled', 'this account may not watch'));
  const roles = acc.roles.split(',').filter(Boolean) as Account['roles'];
  const role = await mayWatch(core, { id: acc.id, roles }, r, actor);
  const live = core.live.get(r.id);
  if (!live || live.state !== 'active') return refuseWatch(core, actor, r, 'not active', conflict('the session is not active', 'not_active'));
  const w = await loadWatch(core, live, r);
  const req = w.terms.required;
  const counts = Boolean(req && roles.some((x) => (req.roles as readonly string[]).includes(x))) && acc.id !== r.approver_id;
  const watcher: Watcher = { id: crypto.randomBytes(9).toString('base64url'), accountId: acc.id, username: acc.username, name: acc.display_name, role, organisation: acc.organisation, since: now, counts };
  w.watchers.set(watcher.id, watcher);
  await core.audit.append({ type: 'watch.joined', outcome: 'success', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { watcher_id: watcher.id, role, counts, jti: t.jti } });
  await reassess(core, live, w);
  core.events?.presenceChanged(live);
  return { live, watcher };
}

export type LeaveWhy = 'closed' | 'lapsed' | 'replaced' | 'ended' | 'account';

/** A watcher is gone (its socket closed or went silent): audited, the requirement looked at again, everyone told. */
export async function leaveWatch(core: SessionCore, sid: string, watcherId: string, why: LeaveWhy, source: string | null, ended?: LiveSession): Promise<void> {
  const live = ended ?? core.live.get(sid);
  const w = live?.watch;
  const x = w?.watchers.get(watcherId);
  if (!live || !w || !x) return;
  w.watchers.delete(watcherId);
  await core.audit.append({ type: 'watch.left', outcome: 'success', actor: `account:${x.username}`, source, session_id: sid, ticket: live.ticket, meta: { watcher_id: watcherId, why } });
  if (live.state !== 'active') return;
  await reassess(core, live, w);
  core.events?.presenceChanged(live);
}

/** The requirement looked at after a join or a leave: met (again) lifts its suspension; short after it was met suspends. */
async function reassess(core: SessionCore, live: LiveSession, w: LiveWatch): Promise<void> {
  const req = w.terms.required;
  if (!req) return;
  const now = core.clock.now();
  if (watchersNeeded(w) === 0) {
    const first = w.metAt === null;
    const wasShort = w.short !== null;
    if (first) {
      w.metAt = now;
      await core.db.updateTable('sessions').set({ watch_met_at: now }).where('id', '=', live.id).where('watch_met_at', 'is', null).execute();
    }
    if (wasShort) {
      w.short?.cancel?.();
      w.short = null;
    }
    if (first || wasShort) {
      await core.audit.append({ type: 'watch.requirement_met', outcome: 'success', actor: 'system', source: null, session_id: live.id, ticket: live.ticket, meta: { count: req.count, first } });
    }
    if (wasShort) core.events?.controlChanged(live);
    return;
  }
  if (startShortIfNeeded(core, live, w)) {
    await core.audit.append({ type: 'watch.requirement_unmet', outcome: 'success', actor: 'system', source: null, session_id: live.id, ticket: live.ticket, meta: { needed: watchersNeeded(w), on_leave: req.on_leave, ends_at: w.short?.endsAt ?? null } });
    core.events?.controlChanged(live);
  }
}

/** Starts the short state when the requirement, once met, is not any more; true if it started now. */
function startShortIfNeeded(core: SessionCore, live: LiveSession, w: LiveWatch): boolean {
  const req = w.terms.required;
  if (!req || w.metAt === null || w.short || watchersNeeded(w) === 0) return false;
  const now = core.clock.now();
  const endsAt = req.on_leave === 'end' ? now + req.grace_s * 1000 : null;
  // Not one of the session's deadline timers (an extension re-arms those): it lives with the watch state and stops with the session.
  const cancel =
    endsAt === null
      ? null
      : core.clock.at(endsAt, () => {
          if (live.watch?.short?.endsAt !== endsAt || live.state !== 'active') return;
          endSession(core, live.id, 'watcher_absent', SYSTEM, {}, { why: `fewer than ${req.count} required watcher(s) for ${req.grace_s} s` }).catch((err: unknown) => {
            if (!(err instanceof DomainError)) process.stderr.write(`watcher grace timer failed: ${String(err)}\n`);
          });
        });
  w.short = { since: now, endsAt, cancel };
  return true;
}

// ---------- moderation

/** The caller's watch of this session, if their watch socket is open; otherwise refused. */
async function watchingNow(core: SessionCore, account: Account, id: string, source: string | null): Promise<{ live: LiveSession; w: LiveWatch; me: Watcher; r: Row; actor: Actor }> {
  const r = await readRow(core, id);
  const actor = accountActor(account, source);
  const live = core.live.get(id);
  if (r.state !== 'active' || !live) return refuseWatch(core, actor, r, 'not active', conflict('the session is not active', 'not_active'));
  const w = await loadWatch(core, live, r);
  const me = [...w.watchers.values()].find((x) => x.accountId === account.id);
  if (!me) return refuseWatch(core, actor, r, 'not watching', conflict('only someone watching the session now may do that; open it on the Live screen first', 'not_watching'));
  return { live, w, me, r, actor };
}

export async function suspendControl(core: SessionCore, account: Account, id: string, note: string | undefined, source: string | null): Promise<{ control: ControlState }> {
  const { live, w, me, actor } = await watchingNow(core, account, id, source);
  if (w.suspendedBy) throw conflict(`${w.suspendedBy.name} already suspended control`, 'already_suspended');
  const words = note?.trim() || null;
  w.suspendedBy = { name: me.name, note: words };
  await core.db.updateTable('sessions').set({ control_suspended_by: me.name, control_suspended_note: words }).where('id', '=', id).execute();
  await core.audit.append({ type: 'moderation.control_suspended', outcome: 'success', ...actor, session_id: id, ticket: live.ticket, meta: { watcher_id: me.id, note_length: words?.length ?? 0 } });
  core.events?.controlChanged(live);
  return { control: controlStateOf(w) };
}

export async function resumeControl(core: SessionCore, account: Account, id: string, source: string | null): Promise<{ control: ControlState }> {
  const { live, w, me, actor } = await watchingNow(core, account, id, source);
  if (!w.suspendedBy) throw conflict('control is not suspended by a watcher', 'not_suspended');
  const was = w.suspendedBy.name;
  w.suspendedBy = null;
  await core.db.updateTable('sessions').set({ control_suspended_by: null, control_suspended_note: null }).where('id', '=', id).execute();
  await core.audit.append({ type: 'moderation.control_resumed', outcome: 'success', ...actor, session_id: id, ticket: live.ticket, meta: { watcher_id: me.id, suspended_by: was } });
  core.events?.controlChanged(live);
  return { control: controlStateOf(w) };
}

export async function noteToAnalyst(core: SessionCore, account: Account, id: string, text: string, source: string | null): Promise<{ sent_at: number; delivered: boolean }> {
  const { live, me, actor } = await watchingNow(core, account, id, source);
  const at = core.clock.now();
  // Metadata only: the words go to the analyst, the audit keeps their length.
  await core.audit.append({ type: 'moderation.note', outcome: 'success', ...actor, session_id: id, ticket: live.ticket, meta: { watcher_id: me.id, length: text.length } });
  const delivered = core.events?.watchNote(live, me.name, text, at) ?? false;
  return { sent_at: at, delivered };
}

export async function endByWatcher(core: SessionCore, account: Account, id: string, reason: string | undefined, source: string | null): Promise<SessionView> {
  const { live, me, actor, r } = await watchingNow(core, account, id, source);
  const note = reason?.trim() || undefined;
  if (note) live.endNote = note;
  await core.audit.append({ type: 'moderation.ended', outcome: 'success', ...actor, session_id: id, ticket: live.ticket, meta: { watcher_id: me.id, reason_length: note?.length ?? 0 } });
  return toView(core, await endSession(core, id, 'revoked', actor, {}, { by_watcher: true, ...(note ? { kill_reason: note } : {}) }, r), { accounts: [account] });
}

// ---------- the Live screen

export async function liveList(core: SessionCore, account: Account): Promise<LiveSessionRow[]> {
  const rows = await core.db.selectFrom('sessions').selectAll().where('state', '=', 'active').orderBy('activated_at', 'desc').limit(1000).execute();
  const ids = [...new Set(rows.flatMap((r) => [r.analyst_id, r.approver_id]).filter((x): x is string => x !== null))];
  const accounts = ids.length ? await core.db.selectFrom('accounts').select(['id', 'username', 'display_name', 'organisation', 'kind']).where('id', 'in', ids).execute() : [];
  const byId = new Map(accounts.map((a) => [a.id, a]));
  const recs = rows.length ? await core.db.selectFrom('recordings').select(['session_id', 'mode', 'chunks', 'last_at']).where('session_id', 'in', rows.map((r) => r.id)).execute() : [];
  const recBy = new Map(recs.map((x) => [x.session_id, x]));
  const out: LiveSessionRow[] = [];
  for (const r of rows) {
    const live = core.live.get(r.id);
    const w = live ? await loadWatch(core, live, r) : null;
    const a = byId.get(r.analyst_id);
    const rec = recBy.get(r.id);
    const terms = w?.terms ?? termsOfRow(r);
    out.push({
      session_id: r.id,
      ticket: r.ticket_ref,
      reason: r.reason,
      analyst: { username: a?.username ?? '', name: a?.display_name ?? '', organisation: a?.organisation ?? '', kind: (a?.kind ?? 'internal') as LiveSessionRow['analyst']['kind'] },
      approver: r.approver_id ? (byId.get(r.approver_id)?.display_name ?? null) : null,
      activated_at: r.activated_at ?? 0,
      expires_at: r.expires_at ?? 0,
      capabilities: r.capabilities.split(',') as LiveSessionRow['capabilities'],
      grants: live ? ([...live.granted] as GrantableCapability[]) : [],
      recording: { mode: (rec?.mode ?? 'off') as LiveSessionRow['recording']['mode'], chunks: rec?.chunks ?? 0, last_chunk_at: rec?.last_at ?? null },
      watch: terms,
      present: w ? presenceOf(w) : [],
      watchers_needed: w ? watchersNeeded(w) : (terms.required?.count ?? 0),
      control: controlStateOf(w),
      can_watch: terms.allowed && r.analyst_id !== account.id,
    });
  }
  return out;
}
