import { useEffect, useRef, useState, type ReactNode } from 'react';
import { END_REASONS } from '../../../common/session-state.js';
import { missingCase } from '../../../common/missing-case.js';
import { useAppStore } from '../store.js';
import { HISTORY_PAGE, NO_HISTORY_FILTERS, loadHistory, type HistoryFilters, type HistoryRow } from '../flows/history.js';
import { problem } from '../flows/admin.js';
import { HISTORY_END_TEXT, historyEndText } from '../history-wording.js';
import { durationText } from '../format.js';
import { capabilityList } from '../wording.js';
import { Player } from './recordings.js';
import { Alert, Field, h } from './ui.js';

/**
 * Past and current sessions: an analyst's own, or everyone's for approvers, admins and auditors
 * (the broker decides which; this screen only asks). Auditors and admins play a recording from
 * its row; the others read that one exists.
 */
export function HistoryPanel(props: { seesAll: boolean; playsRecordings: boolean }): ReactNode {
  const [playing, setPlaying] = useState<HistoryRow | null>(null);
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'history-title' },
    h('h2', { id: 'history-title' }, props.seesAll ? 'Session history' : 'Your session history'),
    playing
      ? h(Player, {
          row: { session_id: playing.session_id, ticket: playing.ticket, analyst_name: playing.analyst.display_name, started_at: playing.started_at, duration_ms: playing.duration_ms ?? 0 },
          onClose: () => setPlaying(null),
          backLabel: 'Back to the session history',
        })
      : h(HistoryList, { ...props, onPlay: setPlaying }),
  );
}

const when = (ms: number) => new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });

function lengthText(r: HistoryRow): string {
  if (r.duration_ms === null) return 'never started';
  return r.duration_ms < 60_000 ? `${Math.max(1, Math.round(r.duration_ms / 1000))} seconds` : durationText(Math.round(r.duration_ms / 1000));
}

function recordingText(r: HistoryRow, plays: boolean): string {
  switch (r.recording) {
    case null:
      return 'Not recorded';
    case 'recording':
      return 'Recording now';
    case 'finalising':
      return 'Being closed';
    case 'finalised':
      return plays ? 'Kept' : 'Kept (an auditor can play it)';
    case 'deleted':
      return 'Deleted under the retention policy';
    default:
      return missingCase(r.recording);
  }
}

/** How often an open history reads its first page again. */
const HISTORY_REFRESH_MS = 15_000;

function HistoryList(props: { seesAll: boolean; playsRecordings: boolean; onPlay: (r: HistoryRow) => void }): ReactNode {
  const [filters, setFilters] = useState<HistoryFilters>(NO_HISTORY_FILTERS);
  const [shown, setShown] = useState<HistoryFilters>(NO_HISTORY_FILTERS);
  const [rows, setRows] = useState<HistoryRow[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = async (f: HistoryFilters, more: boolean) => {
    setError(null);
    setBusy(true);
    try {
      const page = await loadHistory(f, more ? next : null);
      setRows(more ? [...(rows ?? []), ...page.sessions] : page.sessions);
      setNext(page.next_before);
      setShown(f);
    } catch (err) {
      setError(problem(err));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => void load(NO_HISTORY_FILTERS, false), []);
  // A session of this person's that ends (or a request that moves on) shows here without a reload,
  // with the search they have on screen kept.
  const ownEnd = useAppStore((s) => s.live.ended?.at ?? null);
  const ownState = useAppStore((s) => (s.staff.session ? `${s.staff.session.id}:${s.staff.session.state}` : null));
  const seen = useRef({ ownEnd, ownState });
  useEffect(() => {
    if (seen.current.ownEnd === ownEnd && seen.current.ownState === ownState) return;
    seen.current = { ownEnd, ownState };
    void load(shown, false);
  }, [ownEnd, ownState]);
  // Others' sessions end without this page hearing of it: the first page is read again now and
  // then, unless the person has paged further down (their place is kept) or a read is under way.
  const paged = rows !== null && rows.length > HISTORY_PAGE;
  useEffect(() => {
    if (paged) return;
    const t = setInterval(() => {
      if (document.visibilityState === 'visible' && !busy) void load(shown, false);
    }, HISTORY_REFRESH_MS);
    return () => clearInterval(t);
  }, [paged, shown, busy]);
  const text = (key: 'q' | 'analyst' | 'from' | 'to', label: string, type = 'text', hint?: string) =>
    h(
      Field,
      { id: `hist-${key}`, label, ...(hint ? { hint } : {}) },
      h('input', {
        id: `hist-${key}`,
        type,
        value: filters[key],
        maxLength: 64,
        ...(hint ? { 'aria-describedby': `hist-${key}-hint` } : {}),
        onChange: (e: { target: { value: string } }) => setFilters({ ...filters, [key]: e.target.value }),
      }),
    );
  const filtered = JSON.stringify(shown) !== JSON.stringify(NO_HISTORY_FILTERS);
  return h(
    'div',
    null,
    h(
      'form',
      {
        className: 'filters',
        role: 'search',
        'aria-label': 'Search the session history',
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          void load(filters, false);
        },
      },
      text('q', 'Search', 'search', props.seesAll ? 'Ticket, reason or analyst' : 'Ticket or reason'),
      props.seesAll ? text('analyst', 'Analyst', 'text', 'Their username, exactly') : null,
      h(
        Field,
        { id: 'hist-ended', label: 'How it ended' },
        h(
          'select',
          { id: 'hist-ended', value: filters.ended, onChange: (e: { target: { value: string } }) => setFilters({ ...filters, ended: END_REASONS.find((x) => x === e.target.value) ?? '' }) },
          h('option', { value: '' }, 'Any way'),
          ...END_REASONS.map((x) => h('option', { key: x, value: x }, HISTORY_END_TEXT[x])),
        ),
      ),
      text('from', 'Requested from', 'date'),
      text('to', 'Requested until', 'date'),
      h('div', { className: 'field' }, h('button', { type: 'submit', disabled: busy }, 'Show sessions')),
    ),
    error ? h(Alert, { kind: 'error', testId: 'history-error' }, error) : null,
    rows === null
      ? h('p', null, 'Loading…')
      : rows.length === 0
        ? h('p', { 'data-testid': 'history-none' }, filtered ? 'No session matches.' : 'No sessions yet.')
        : h(
            'div',
            { className: 'table-wrap' },
            h(
              'table',
              { className: 'audit history', 'data-testid': 'history-list' },
              h('caption', { className: 'small' }, `${rows.length} session${rows.length === 1 ? '' : 's'}${next ? ' so far' : ''}, newest first`),
              h(
                'thead',
                null,
                h('tr', null, ...['Ticket', 'Who', 'When', 'How it ended', 'Granted', 'Recording'].map((c, i) => h('th', { key: i, scope: 'col' }, c))),
              ),
              h('tbody', null, ...rows.map((r) => h(HistoryItem, { key: r.session_id, r, plays: props.playsRecordings, onPlay: props.onPlay }))),
            ),
          ),
    next && rows ? h('button', { type: 'button', disabled: busy, onClick: () => void load(shown, true), 'data-testid': 'history-more' }, busy ? 'Loading…' : 'Show older sessions') : null,
  );
}

function HistoryItem(props: { r: HistoryRow; plays: boolean; onPlay: (r: HistoryRow) => void }): ReactNode {
  const { r } = props;
  const small = (...children: ReactNode[]) => h('div', { className: 'small' }, ...children);
  return h(
    'tr',
    { 'data-testid': `history-${r.ticket}` },
    h('th', { scope: 'row', 'data-label': 'Ticket' }, h('bdi', null, r.ticket), small(h('bdi', null, r.reason))),
    h(
      'td',
      { 'data-label': 'Who' },
      h('bdi', null, r.analyst.display_name),
      r.approver ? small('approved by ', h('bdi', null, r.approver.display_name)) : null,
      small(r.end_user_device ? `end user's computer: device ${r.end_user_device}` : 'nobody joined'),
    ),
    h('td', { 'data-label': 'When' }, h('span', { className: 'nowrap' }, when(r.started_at ?? r.requested_at)), small(r.started_at === null ? 'requested; never started' : `for ${lengthText(r)}`)),
    h('td', { 'data-label': 'How it ended' }, historyEndText(r)),
    h('td', { 'data-label': 'Granted' }, r.granted.length ? capabilityList(r.granted) : 'Nothing', small(`asked for: ${capabilityList(r.asked)}`)),
    h(
      'td',
      { 'data-label': 'Recording' },
      recordingText(r, props.plays),
      props.plays && r.recording === 'finalised' ? h('div', null, h('button', { type: 'button', onClick: () => props.onPlay(r) }, `Play the recording of ${r.ticket}`)) : null,
    ),
  );
}
