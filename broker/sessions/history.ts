import { sql } from 'kysely';
import { CAPABILITIES, CONSENT_CAPABILITIES, type Capability } from '../../common/capabilities.js';
import type { HistoryFilters, HistoryPage, HistoryRow } from '../../common/protocol/history.js';
import { RECORDING_STATES } from '../../common/protocol/recordings.js';
import { END_REASONS, SESSION_STATES } from '../../common/session-state.js';
import type { Account } from '../auth/account.js';
import type { SessionCore } from './core.js';
import { seesAll } from './queries.js';

/**
 * Session history, newest first, one page at a time. The scope comes from the caller's account,
 * never from the query: an analyst's rows are their own whatever `analyst` or `q` say, so another
 * analyst's sessions are not merely hidden by the console but never leave the broker.
 */

/** LIKE treats % and _ as wildcards; a person searching for "50%" means the characters. */
const likeContains = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const cursorOf = (r: { created_at: number; id: string }) => `${r.created_at}.${r.id}`;

const oneOf = <T extends string>(all: readonly T[], v: string | null): T | null => (v !== null && (all as readonly string[]).includes(v) ? (v as T) : null);

export async function history(core: SessionCore, account: Account, f: HistoryFilters): Promise<HistoryPage> {
  let q = core.db
    .selectFrom('sessions as s')
    .leftJoin('accounts as a', 'a.id', 's.analyst_id')
    .leftJoin('accounts as p', 'p.id', 's.approver_id')
    .leftJoin('recordings as r', 'r.session_id', 's.id')
    .select([
      's.id',
      's.ticket_ref',
      's.reason',
      's.capabilities',
      's.state',
      's.end_reason',
      's.end_user_jkt',
      's.created_at',
      's.activated_at',
      's.ended_at',
      'a.username as analyst_username',
      'a.display_name as analyst_name',
      'a.organisation as analyst_org',
      'p.username as approver_username',
      'p.display_name as approver_name',
      'r.state as recording_state',
      'r.chunks as recording_chunks',
    ])
    .orderBy('s.created_at', 'desc')
    .orderBy('s.id', 'desc')
    // One more than asked: whether there is a next page, without counting.
    .limit(f.limit + 1);
  if (!seesAll(account)) q = q.where('s.analyst_id', '=', account.id);
  if (f.analyst) q = q.where('a.username', '=', f.analyst);
  if (f.ended) q = q.where('s.end_reason', '=', f.ended);
  if (f.from !== undefined) q = q.where('s.created_at', '>=', f.from);
  if (f.to !== undefined) q = q.where('s.created_at', '<', f.to);
  if (f.before) {
    const dot = f.before.indexOf('.');
    const at = Number(f.before.slice(0, dot));
    const id = f.before.slice(dot + 1);
    q = q.where((eb) => eb.or([eb('s.created_at', '<', at), eb.and([eb('s.created_at', '=', at), eb('s.id', '<', id)])]));
  }
  if (f.q) {
    const pattern = likeContains(f.q);
    const has = (col: string) => sql<boolean>`lower(${sql.ref(col)}) like ${pattern} escape '\\'`;
    q = q.where((eb) => eb.or([has('s.ticket_ref'), has('s.reason'), has('a.username'), has('a.display_name')]));
  }
  const rows = await q.execute();
  const page = rows.slice(0, f.limit);
  const granted = await grantedBySession(
    core,
    page.map((r) => r.id),
  );
  const now = core.clock.now();
  const sessions = page.map((r): HistoryRow => {
    const asked = r.capabilities.split(',').filter((c): c is Capability => (CAPABILITIES as readonly string[]).includes(c));
    const started = r.activated_at;
    const inSession = granted.get(r.id) ?? new Set<Capability>();
    return {
      session_id: r.id,
      ticket: r.ticket_ref,
      reason: r.reason,
      analyst: { username: r.analyst_username ?? '(deleted)', display_name: r.analyst_name ?? '(deleted)', organisation: r.analyst_org ?? '' },
      approver: r.approver_username ? { username: r.approver_username, display_name: r.approver_name ?? r.approver_username } : null,
      end_user_device: r.end_user_jkt ? r.end_user_jkt.slice(0, 8) : null,
      requested_at: r.created_at,
      started_at: started,
      ended_at: r.ended_at,
      duration_ms: started === null ? null : Math.max(0, (r.ended_at ?? now) - started),
      state: oneOf(SESSION_STATES, r.state) ?? 'ended',
      end_reason: oneOf(END_REASONS, r.end_reason),
      asked,
      // The Accept itself grants what consent covers; the rest only what the end user allowed inside.
      granted: CAPABILITIES.filter((c) => (started !== null && asked.includes(c) && CONSENT_CAPABILITIES.includes(c)) || inSession.has(c)),
      // A session recorded under policy whose end user never sent a chunk has nothing to watch.
      recording: r.recording_chunks ? oneOf(RECORDING_STATES, r.recording_state ?? null) : null,
    };
  });
  const last = page.at(-1);
  return { sessions, next_before: rows.length > f.limit && last ? cursorOf(last) : null };
}

/** Capabilities the end user allowed at some point in each session (granted, and perhaps taken back later). */
async function grantedBySession(core: SessionCore, ids: string[]): Promise<Map<string, Set<Capability>>> {
  const out = new Map<string, Set<Capability>>();
  if (ids.length === 0) return out;
  const rows = await core.db
    .selectFrom('grants')
    .select(['session_id', 'capability'])
    .where('session_id', 'in', ids)
    .where('state', 'in', ['granted', 'revoked'])
    .where('decided_at', 'is not', null)
    .execute();
  for (const g of rows) {
    const c = oneOf(CAPABILITIES, g.capability);
    if (!c) continue;
    const set = out.get(g.session_id) ?? new Set<Capability>();
    set.add(c);
    out.set(g.session_id, set);
  }
  return out;
}
