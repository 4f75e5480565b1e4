import type { Selectable } from 'kysely';
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
import { refreshFromRow } from './replicas.js';
import { prepared } from '../storage/prepared.js';
import type { SessionWatchersTable } from '../storage/schema.js';
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
/** How often the instance holding a watch socket marks it seen in the database. */
export const WATCHER_SEEN_EVERY_MS = 3000;

/** A watcher not marked seen for this long is gone (its socket lapsed, or the instance holding it died). */
function lapseMs(core: SessionCore): number {
  return core.cfg.policy.heartbeat_timeout_seconds * 1000 + 2 * WATCHER_SEEN_EVERY_MS;
}

/** The lease holder (or a lone broker) decides the requirement; the other instances only show it. */
function decidesHere(core: SessionCore, live: LiveSession): boolean {
  return !core.placement || core.placement.owns(live.id);
}

const analystNames = prepared<{ id: string }, { display_name: string; organisation: string }>((db, p) => db.selectFrom('accounts').select(['display_name', 'organisation']).where('id', '=', p('id')));
const presentWatchers = prepared<{ sid: string; since: number }, Selectable<SessionWatchersTable>>((db, p) =>
  db.selectFrom('session_watchers').selectAll().where('session_id', '=', p('sid')).where('left_at', 'is', null).where('seen_at', '>=', p('since')),
);

/** The watchers present now, from the database (every instance's), into the session's copy here. */
async function refreshWatchers(core: SessionCore, live: LiveSession, w: LiveWatch): Promise<void> {
  const since = core.clock.now() - lapseMs(core);
  const rows = await presentWatchers.all(core.db, { sid: live.id, since });
  w.watchers = new Map(
    rows.map((x) => [x.id, { id: x.id, accountId: x.account_id, username: x.username, name: x.name, role: x.role as WatcherRole, organisation: x.organisation, since: Number(x.since), counts: x.counts === 1 }]),
  );
}

/**
 * Another instance changed who watches or a watcher's suspension (cluster mode): this copy is
 * read again from the database, and the lease holder looks at the requirement. Returns false when
 * there is nothing live here to refresh.
 */
export async function reloadWatch(core: SessionCore, live: LiveSession, r?: Row): Promise<boolean> {
  if (live.state !== 'active') return false;
  const row = r ?? (await readRow(core, live.id));
  // Loaded just now: from this row, with the watchers just read.
  const { w, refreshed } = await loadOrGetWatch(core, live, row);
  w.suspendedBy = row.control_suspended_by !== null ? { name: row.control_suspended_by, note: row.control_suspended_note } : null;
  w.metAt = row.watch_met_at;
  if (!refreshed) await refreshWatchers(core, live, w);
  if (decidesHere(core, live)) await reassess(core, live, w);
  return true;
}

/** The watch sockets held here are alive: marked seen, so they keep counting. */
export async function watchersSeen(core: SessionCore, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await core.db.updateTable('session_watchers').set({ seen_at: core.clock.now() }).where('id', 'in', ids).where('left_at', 'is', null).execute();
}

/**
 * Of these watchers, the ones whose account stopped counting since they joined (disabled, or no
 * longer a supervisor or admin): their watch ends at once.
 */
export async function watchersNoLongerAllowed(core: SessionCore, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await core.db
    .selectFrom('session_watchers')
    .innerJoin('accounts', 'accounts.id', 'session_watchers.account_id')
    .select(['session_watchers.id as id', 'accounts.disabled as disabled', 'accounts.roles as roles'])
    .where('session_watchers.id', 'in', ids)
    .execute();
  return rows.filter((r) => r.disabled === 1 || !r.roles.split(',').some((x) => x === 'supervisor' || x === 'admin')).map((r) => r.id);
}

/** Watchers whose instance stopped marking them seen (it died) leave, as if their socket had lapsed. */
export async function sweepLapsedWatchers(core: SessionCore): Promise<void> {
  const rows = await core.db.selectFrom('session_watchers').select(['id', 'session_id']).where('left_at', 'is', null).where('seen_at', '<', core.clock.now() - lapseMs(core)).limit(500).execute();
  for (const x of rows) {
    const live = core.live.get(x.session_id);
    if (!live || decidesHere(core, live)) await leaveWatch(core, x.session_id, x.id, 'lapsed', null);
  }
}

/** A lone broker starting: no watch socket survived the stop, so none is left counting. */
export async function forgetWatchersAtStart(core: SessionCore): Promise<void> {
  if (core.placement) return;
  await core.db.updateTable('session_watchers').set({ left_at: core.clock.now(), left_why: 'restart' }).where('left_at', 'is', null).execute();
}

export type { LiveWatch, Watcher } from './live-watch.js';
import type { LiveWatch, Watcher } from './live-watch.js';
import type { WatchPort } from './core.js';

/** The port SessionCore.watch: the watch code as the rest of the session code reaches it. */
export function watchPort(core: () => SessionCore): WatchPort {
  return { controlRefusal: (live) => controlRefusal(core(), live), reload: (live, row) => reloadWatch(core(), live, row) };
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
  return (await loadOrGetWatch(core, live, r)).w;
}

/** The same; `refreshed`: loaded by this call, its watchers just read from the store. */
async function loadOrGetWatch(core: SessionCore, live: LiveSession, r?: Row): Promise<{ w: LiveWatch; refreshed: boolean }> {
  if (live.watch) return { w: live.watch, refreshed: false };
  const row = r ?? (await readRow(core, live.id));
  const a = await analystNames.first(core.db, { id: row.analyst_id });
  if (live.watch) return { w: live.watch, refreshed: false };
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
  await refreshWatchers(core, live, w);
  if (live.state === 'active' && decidesHere(core, live)) startShortIfNeeded(core, live, w);
  return { w, refreshed: true };
}

/** The watch state with who watches read again from the store (every instance's watchers). */
export async function currentWatch(core: SessionCore, live: LiveSession): Promise<LiveWatch> {
  // Loaded just now (a copy's first use here): its watchers were just read.
  const { w, refreshed } = await loadOrGetWatch(core, live);
  if (!refreshed) await refreshWatchers(core, live, w);
  return w;
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
  await refreshWatchers(core, live, w);
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
  // In a cluster the session may run on another instance: this one keeps a copy for the socket.
  const live = core.live.get(r.id) ?? (await refreshFromRow(core, r.id))?.live;
  if (!live || live.state !== 'active') return refuseWatch(core, actor, r, 'not active', conflict('the session is not active', 'not_active'));
  const w = await loadWatch(core, live, r);
  const req = w.terms.required;
  const counts = Boolean(req && roles.some((x) => (req.roles as readonly string[]).includes(x))) && acc.id !== r.approver_id;
  const watcher: Watcher = { id: crypto.randomBytes(9).toString('base64url'), accountId: acc.id, username: acc.username, name: acc.display_name, role, organisation: acc.organisation, since: now, counts };
  await core.db
    .insertInto('session_watchers')
    .values({ id: watcher.id, session_id: r.id, account_id: acc.id, username: acc.username, name: acc.display_name, role, organisation: acc.organisation, since: now, counts: counts ? 1 : 0, seen_at: now, left_at: null, left_why: null })
    .execute();
  await core.audit.append({ type: 'watch.joined', outcome: 'success', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { watcher_id: watcher.id, role, counts, jti: t.jti } });
  await refreshWatchers(core, live, w);
  if (decidesHere(core, live)) await reassess(core, live, w);
  core.events?.presenceChanged(live);
  return { live, watcher };
}

export type LeaveWhy = 'closed' | 'lapsed' | 'ended' | 'account';

/** A watcher is gone (its socket closed or went silent): audited, the requirement looked at again, everyone told. */
export async function leaveWatch(core: SessionCore, sid: string, watcherId: string, why: LeaveWhy, source: string | null, ended?: LiveSession): Promise<void> {
  const x = await core.db.selectFrom('session_watchers').select(['username']).where('id', '=', watcherId).where('session_id', '=', sid).executeTakeFirst();
  // One leave per watch, whichever instance (or sweep) notices it first.
  const upd = await core.db.updateTable('session_watchers').set({ left_at: core.clock.now(), left_why: why }).where('id', '=', watcherId).where('left_at', 'is', null).executeTakeFirst();
  if (!x || Number(upd.numUpdatedRows) !== 1) return;
  const live = ended ?? core.live.get(sid);
  const ticket = live?.ticket ?? (await readRow(core, sid)).ticket_ref;
  await core.audit.append({ type: 'watch.left', outcome: 'success', actor: `account:${x.username}`, source, session_id: sid, ticket, meta: { watcher_id: watcherId, why } });
  const w = live?.watch;
  if (!live || !w || live.state !== 'active') return;
  await refreshWatchers(core, live, w);
  if (decidesHere(core, live)) await reassess(core, live, w);
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
  const live = r.state === 'active' ? (core.live.get(id) ?? (await refreshFromRow(core, id))?.live) : undefined;
  if (r.state !== 'active' || !live) return refuseWatch(core, actor, r, 'not active', conflict('the session is not active', 'not_active'));
  const w = await loadWatch(core, live, r);
  await refreshWatchers(core, live, w);
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
