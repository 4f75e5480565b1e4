import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { LiveSessionRow } from '../../../common/protocol/watch.js';
import { MAX_NOTE_CHARS } from '../../../common/protocol/watch.js';
import { missingCase } from '../../../common/missing-case.js';
import type { RecordingMode } from '../../../common/recording.js';
import { attachPicture, endWatchedSession, resumeControl, sendNote, startWatching, stopWatching, suspendControl, watchLiveList } from '../flows/watch.js';
import { ANALYST_END_TEXT, endText } from '../end-reasons.js';
import { GRANT_NAMES, listText } from '../format.js';
import { useAppStore, type WatchingState } from '../store.js';
import { kindText } from '../wording.js';
import { ConfirmDialog } from './confirm.js';
import { PresenceList, suspendedText, watchers } from './presence.js';
import { Alert, Countdown, Field, h } from './ui.js';

/**
 * The supervisor's Live screen: every active session, who works in it, what the end user has
 * allowed right now, whether it is recorded and who is watching; one click to watch. Watching
 * replaces the list with the watcher's view until the supervisor leaves.
 */
export function LivePanel(): ReactNode {
  const current = useAppStore((s) => s.watch.current);
  return h('section', { className: 'card', 'aria-labelledby': 'live-watch-title' }, current ? h(WatcherView, { w: current }) : h(LiveList));
}

const MAX_SUSPEND_REASON = 200;

function recordingText(mode: RecordingMode, chunks: number): string {
  switch (mode) {
    case 'off':
      return 'Not recorded (no picture to watch)';
    case 'best_effort':
    case 'required':
      return chunks > 0 ? 'Recorded' : 'Recording is starting';
    default:
      return missingCase(mode);
  }
}

const grantsText = (g: readonly string[]) => (g.length === 0 ? 'View only' : `View, ${listText(g.map((x) => GRANT_NAMES[x] ?? x))}`);

function watchingText(r: LiveSessionRow): string {
  const w = watchers(r.present);
  const who = w.length === 0 ? 'Nobody' : w.map((p) => p.name).join(', ');
  return r.watchers_needed > 0 ? `${who} (needs ${r.watchers_needed} more before control)` : who;
}

function whyNotWatch(r: LiveSessionRow): string {
  if (!r.watch.allowed) return 'The end user was told nobody else would watch this session.';
  return 'This is your own session.';
}

function LiveList(): ReactNode {
  const w = useAppStore((s) => s.watch);
  useEffect(() => watchLiveList(), []);
  return h(
    'div',
    null,
    h('h2', { id: 'live-watch-title' }, 'Live sessions to watch'),
    h('p', { className: 'small' }, 'Whoever you watch sees your name in their banner the moment you join, and the end user sees it too.'),
    w.error ? h(Alert, { kind: 'error', testId: 'live-error' }, w.error) : null,
    !w.loaded
      ? h('p', null, 'Loading…')
      : w.rows.length === 0
        ? h('p', { 'data-testid': 'live-none' }, 'No session is live right now.')
        : h(
            'div',
            { className: 'table-wrap' },
            h(
              'table',
              { className: 'audit live-sessions', 'data-testid': 'live-list' },
              h('caption', { className: 'small' }, `${w.rows.length} live session${w.rows.length === 1 ? '' : 's'}, newest first`),
              h('thead', null, h('tr', null, ...['Analyst', 'Ticket', 'Time left', 'Allowed now', 'Recording', 'Watching', ''].map((c, i) => h('th', { key: i, scope: 'col' }, c)))),
              h(
                'tbody',
                null,
                ...w.rows.map((r) =>
                  h(
                    'tr',
                    { key: r.session_id, 'data-testid': `live-${r.ticket}` },
                    h('td', null, h('bdi', null, r.analyst.name), h('br'), h('span', { className: 'small' }, h('bdi', null, r.analyst.organisation), `, ${kindText(r.analyst.kind)}`)),
                    h('td', null, h('bdi', null, r.ticket), h('br'), h('span', { className: 'small' }, h('bdi', null, r.reason.length > 80 ? `${r.reason.slice(0, 80)}…` : r.reason))),
                    h('td', null, h(Countdown, { until: r.expires_at, label: 'Time left' })),
                    h('td', { 'data-testid': 'live-grants' }, grantsText(r.grants), r.control.suspended ? h('span', { className: 'badge badge-warning' }, 'control suspended') : null),
                    h('td', null, recordingText(r.recording.mode, r.recording.chunks)),
                    h('td', { 'data-testid': 'live-watchers' }, watchingText(r)),
                    h(
                      'td',
                      null,
                      r.can_watch
                        ? h('button', { type: 'button', className: 'primary', onClick: () => void startWatching(r) }, `Watch ${r.ticket}`)
                        : h('span', { className: 'small' }, whyNotWatch(r)),
                    ),
                  ),
                ),
              ),
            ),
          ),
  );
}

function endedText(e: NonNullable<WatchingState['ended']>): string {
  if (e.reason === 'closed') return 'The connection to the session closed. Watch again from the list if it is still live.';
  if (e.reason === 'lapsed') return 'The broker stopped counting you as present (no sign of this page for 15 s). Watch again from the list.';
  return endText(ANALYST_END_TEXT, e.reason).replace(/^You ended/, 'The analyst ended').replace(/^You /, 'The analyst ');
}

function WatcherView(props: { w: WatchingState }): ReactNode {
  const { w } = props;
  const me = useAppStore((s) => s.staff.account);
  const [ending, setEnding] = useState(false);
  const [note, setNote] = useState('');
  const [reason, setReason] = useState('');
  const heading = useRef<HTMLHeadingElement | null>(null);
  useEffect(() => heading.current?.focus(), []);
  const live = w.phase !== 'ended';
  const suspendedByWatcher = w.control?.reasons.includes('by_watcher') === true;
  const r = w.row;
  return h(
    'div',
    { className: 'watcher', 'data-testid': 'watcher-view' },
    h('h2', { id: 'live-watch-title', ref: heading, tabIndex: -1 }, 'Watching ', h('bdi', null, r.ticket), ': ', h('bdi', null, r.analyst.name), ' (', h('bdi', null, r.analyst.organisation), ')'),
    h(
      'p',
      { className: 'small' },
      live ? h('span', null, h(Countdown, { until: w.expiresAt, label: 'Time left' }), ' left. ') : null,
      `Allowed now: ${grantsText(w.grants)}. `,
      w.phase === 'watching' && !w.counts && r.watch.required ? 'You approved this session, so you do not count as its required watcher. ' : '',
    ),
    w.phase === 'ended' && w.ended ? h(Alert, { kind: 'info', testId: 'watch-ended' }, endedText(w.ended), w.ended.note ? h('span', null, ' Reason given: ', h('q', null, h('bdi', null, w.ended.note))) : null) : null,
    h('div', { className: 'watcher-main' }, h(WatchPicture, { w }), h(WatcherSide, { w, me: me?.display_name ?? null })),
    w.message ? h(Alert, { kind: w.message.kind, testId: 'watch-message' }, w.message.text) : null,
    live
      ? h(
          'div',
          { className: 'moderation', role: 'group', 'aria-labelledby': 'moderation-title' },
          h('h3', { id: 'moderation-title' }, 'Moderate'),
          w.control?.suspended ? h(Alert, { kind: 'warning', testId: 'watch-suspended' }, suspendedText(w.control, 'watcher')) : null,
          suspendedByWatcher
            ? h('button', { type: 'button', className: 'primary', disabled: w.busy, onClick: () => void resumeControl(), 'data-testid': 'resume-control' }, 'Resume control')
            : h(
                'form',
                {
                  className: 'inline-form',
                  onSubmit: (e: { preventDefault(): void }) => {
                    e.preventDefault();
                    void suspendControl(reason.trim()).then((ok) => ok && setReason(''));
                  },
                },
                h(
                  Field,
                  { id: 'suspend-reason', label: 'Why (optional; the end user and the analyst read it)' },
                  h('input', { id: 'suspend-reason', value: reason, maxLength: MAX_SUSPEND_REASON, onChange: (e: { target: { value: string } }) => setReason(e.target.value) }),
                ),
                h('button', { type: 'submit', disabled: w.busy, 'data-testid': 'suspend-control' }, 'Suspend control'),
              ),
          h(
            'form',
            {
              className: 'inline-form',
              onSubmit: (e: { preventDefault(): void }) => {
                e.preventDefault();
                if (note.trim()) void sendNote(note.trim()).then((ok) => ok && setNote(''));
              },
            },
            h(
              Field,
              { id: 'watch-note', label: `Note to ${r.analyst.name} (only the analyst sees it)` },
              h('textarea', { id: 'watch-note', rows: 2, value: note, maxLength: MAX_NOTE_CHARS, onChange: (e: { target: { value: string } }) => setNote(e.target.value) }),
            ),
            h('button', { type: 'submit', disabled: w.busy || !note.trim(), 'data-testid': 'send-note' }, 'Send note'),
          ),
          h('button', { type: 'button', className: 'danger', onClick: () => setEnding(true), 'data-testid': 'watch-end' }, `End ${r.ticket} now`),
        )
      : null,
    h('p', null, h('button', { type: 'button', onClick: stopWatching, 'data-testid': 'stop-watching' }, live ? 'Stop watching' : 'Back to live sessions')),
    ending
      ? h(ConfirmDialog, {
          id: 'watch-end',
          title: `End ${r.ticket} now?`,
          body: `${r.analyst.name} loses the end user's screen and any control at once; the end user sees that the session was ended. This cannot be undone.`,
          confirm: `End ${r.ticket} now`,
          keep: 'Back',
          reason: { label: 'Reason (optional)', hint: 'A few words; the end user and the analyst read them, and the audit keeps their length', max: MAX_SUSPEND_REASON },
          onConfirm: (why) => {
            setEnding(false);
            void endWatchedSession(why);
          },
          onKeep: () => setEnding(false),
        })
      : null,
  );
}

function WatchPicture(props: { w: WatchingState }): ReactNode {
  const { w } = props;
  const video = useRef<HTMLVideoElement | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  // Shown once the element has a decoded frame, as the element itself reports it.
  const [showing, setShowing] = useState(false);
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    return attachPicture(v, (st) => setFailed(st.failed));
  }, [w.sessionId]);
  const seen = () => {
    const v = video.current;
    if (v && v.readyState >= 2 && v.videoWidth > 0) setShowing(true);
  };
  const noPicture = w.phase === 'watching' && !w.picture;
  return h(
    'div',
    { className: 'screen watch-screen' },
    h('video', {
      ref: video,
      muted: true,
      autoPlay: true,
      playsInline: true,
      onLoadedData: seen,
      onTimeUpdate: seen,
      onPlaying: seen,
      'data-testid': 'watch-video',
      'aria-label': `Live picture of the end user's screen in ${w.row.ticket}`,
      className: showing && w.phase !== 'ended' ? undefined : 'video-hidden',
    }),
    failed
      ? h('p', { className: 'screen-empty', 'data-testid': 'watch-picture-error' }, `The live picture cannot be shown here: ${failed}.`)
      : noPicture
        ? h('p', { className: 'screen-empty', 'data-testid': 'watch-no-picture' }, 'This session is not recorded, so there is no picture to watch. You can still see who is present and moderate.')
        : w.phase === 'ended'
          ? h('p', { className: 'screen-empty' }, 'The session is over.')
          : showing
            ? null
            : h('p', { className: 'screen-empty', 'data-testid': 'watch-waiting' }, 'Waiting for the picture (it arrives in 2-second pieces)…'),
  );
}

function WatcherSide(props: { w: WatchingState; me: string | null }): ReactNode {
  const { w } = props;
  return h(
    'div',
    { className: 'viewer-side' },
    h('h3', null, 'Who is present'),
    h('p', { className: 'small' }, 'The end user and the analyst see this list too.'),
    h(PresenceList, { present: w.present, audience: 'staff', testId: 'watch-present' }),
    w.watchersNeeded > 0 ? h(Alert, { kind: 'warning', testId: 'watch-needed' }, `Policy needs ${w.watchersNeeded} more watcher${w.watchersNeeded === 1 ? '' : 's'} before the analyst may ask for control.`) : null,
  );
}
