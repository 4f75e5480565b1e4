import { useEffect, useRef, useState, type ReactNode } from 'react';
import { downloadEvidence, listRecordings, markers as loadMarkers, playbackUrl, type RecordingFilters, type RecordingMarker, type RecordingRow } from '../flows/recordings.js';
import { problem } from '../flows/admin.js';
import { endText, ANALYST_END_TEXT } from '../end-reasons.js';
import { mmss } from '../format.js';
import { missingCase } from '../../../common/missing-case.js';
import { Alert, Field, h } from './ui.js';

/** The auditor's view of what happened inside sessions: the recordings, and a player for each. */
export function RecordingsPanel(): ReactNode {
  const [open, setOpen] = useState<RecordingRow | null>(null);
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'recordings-title' },
    h('h2', { id: 'recordings-title' }, 'Recordings'),
    open ? h(Player, { row: open, onClose: () => setOpen(null) }) : h(RecordingList, { onOpen: setOpen }),
  );
}

const SPEEDS = [1, 2, 4, 8] as const;
const NO_FILTERS: RecordingFilters = { analyst: '', ticket: '', from: '', to: '' };
const when = (ms: number | null) => (ms === null ? 'not started' : new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }));
const size = (bytes: number) => (bytes >= 1_000_000 ? `${(bytes / 1_000_000).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1000))} kB`);

/** How the recording stands, for the list (the session's end is its own column). */
function stateText(r: RecordingRow): string {
  switch (r.state) {
    case 'recording':
      return 'Recording now';
    case 'finalising':
      return 'Being closed';
    case 'finalised':
      return r.playable ? 'Kept' : 'Kept (chunks only, no playable video)';
    case 'deleted':
      return 'Deleted under the retention policy (its fingerprint stays in the audit log)';
    default:
      return missingCase(r.state);
  }
}

function RecordingList(props: { onOpen: (r: RecordingRow) => void }): ReactNode {
  const [filters, setFilters] = useState<RecordingFilters>(NO_FILTERS);
  const [rows, setRows] = useState<RecordingRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async (f: RecordingFilters) => {
    setError(null);
    try {
      setRows(await listRecordings(f));
    } catch (err) {
      setError(problem(err));
    }
  };
  useEffect(() => void load(NO_FILTERS), []);
  const field = (key: keyof RecordingFilters, label: string, type = 'text') =>
    h(Field, { id: `rec-${key}`, label }, h('input', { id: `rec-${key}`, type, value: filters[key], maxLength: 64, onChange: (e: { target: { value: string } }) => setFilters({ ...filters, [key]: e.target.value }) }));
  return h(
    'div',
    null,
    h(
      'form',
      {
        className: 'filters',
        'aria-label': 'Filter recordings',
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          void load(filters);
        },
      },
      field('analyst', 'Analyst (username)'),
      field('ticket', 'Ticket'),
      field('from', 'From', 'date'),
      field('to', 'To', 'date'),
      h('div', { className: 'field' }, h('button', { type: 'submit' }, 'Show recordings')),
    ),
    error ? h(Alert, { kind: 'error', testId: 'recordings-error' }, error) : null,
    rows === null
      ? h('p', null, 'Loading…')
      : rows.length === 0
        ? h('p', { 'data-testid': 'recordings-none' }, 'No recordings match.')
        : h(
            'div',
            { className: 'table-wrap' },
            h(
              'table',
              { className: 'audit recordings', 'data-testid': 'recordings-list' },
              h('caption', { className: 'small' }, `${rows.length} recording${rows.length === 1 ? '' : 's'}, newest first`),
              h('thead', null, h('tr', null, ...['Analyst', 'Ticket', 'When', 'Length', 'Size', 'How it ended', 'Recording', ''].map((c, i) => h('th', { key: i, scope: 'col' }, c)))),
              h(
                'tbody',
                null,
                ...rows.map((r) =>
                  h(
                    'tr',
                    { key: r.session_id, 'data-testid': `recording-${r.ticket}` },
                    h('td', null, `${r.analyst_name} (${r.analyst})`),
                    h('td', null, r.ticket),
                    h('td', null, when(r.started_at)),
                    h('td', null, mmss(r.duration_ms)),
                    h('td', null, size(r.bytes)),
                    h('td', null, r.end_reason ? endText(ANALYST_END_TEXT, r.end_reason).replace(/^You ended/, 'The analyst ended') : 'Still running'),
                    h('td', null, stateText(r)),
                    h('td', null, r.state === 'finalised' && r.playable ? h('button', { type: 'button', onClick: () => props.onOpen(r) }, `Play ${r.ticket}`) : null),
                  ),
                ),
              ),
            ),
          ),
  );
}

/** The player for one recording; session history opens it too, with its own way back. */
export function Player(props: { row: Pick<RecordingRow, 'session_id' | 'ticket' | 'analyst_name' | 'started_at' | 'duration_ms'>; onClose: () => void; backLabel?: string }): ReactNode {
  const { row } = props;
  const video = useRef<HTMLVideoElement | null>(null);
  const [url, setUrl] = useState<string | null>(null);
  const [marks, setMarks] = useState<RecordingMarker[]>([]);
  const [speed, setSpeed] = useState<number>(1);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => {
    void (async () => {
      try {
        const [u, m] = await Promise.all([playbackUrl(row.session_id), loadMarkers(row.session_id)]);
        setUrl(u);
        setMarks(m);
      } catch (err) {
        setError(problem(err));
      }
    })();
  }, [row.session_id]);
  const heading = useRef<HTMLHeadingElement | null>(null);
  useEffect(() => heading.current?.focus(), []);
  const seek = (ms: number) => {
    if (video.current) video.current.currentTime = ms / 1000;
  };
  const total = Math.max(row.duration_ms, ...marks.map((m) => m.at_ms), 1);
  return h(
    'div',
    { className: 'player' },
    h('h3', { ref: heading, tabIndex: -1 }, `${row.ticket}: ${row.analyst_name}, ${when(row.started_at)}, ${mmss(row.duration_ms)}`),
    error ? h(Alert, { kind: 'error', testId: 'player-error' }, error) : null,
    url
      ? h('video', {
          ref: video,
          src: url,
          controls: true,
          preload: 'metadata',
          className: 'player-video',
          'data-testid': 'player-video',
          'aria-label': `Recording of session ${row.ticket}`,
          onLoadedMetadata: () => {
            if (video.current) video.current.playbackRate = speed;
          },
        })
      : error
        ? null
        : h('p', null, 'Opening the recording…'),
    h(
      'div',
      { role: 'group', 'aria-label': 'Playback speed', className: 'choice' },
      ...SPEEDS.map((s) =>
        h(
          'button',
          {
            key: s,
            type: 'button',
            'aria-pressed': s === speed,
            'data-testid': `speed-${s}`,
            className: s === speed ? 'tab tab-current' : 'tab',
            onClick: () => {
              setSpeed(s);
              if (video.current) video.current.playbackRate = s;
            },
          },
          `${s}×`,
        ),
      ),
    ),
    h('h4', { id: 'marker-title' }, 'What happened (from the end user’s computer)'),
    // The bar shows where the moments fall; the list below is what a keyboard or screen reader uses.
    h('div', { className: 'timeline', 'aria-hidden': true }, ...marks.map((m, i) => h('span', { key: i, className: `tick tick-${m.kind}`, style: { left: `${(m.at_ms / total) * 100}%` }, title: m.label }))),
    marks.length === 0
      ? h('p', { className: 'small' }, 'No transcript entries for this session.')
      : h(
          'ol',
          { className: 'markers', 'aria-labelledby': 'marker-title' },
          ...marks.map((m, i) => h('li', { key: i }, h('button', { type: 'button', 'data-testid': `marker-${m.kind}`, onClick: () => seek(m.at_ms) }, `${mmss(m.at_ms)} ${m.label}`))),
        ),
    saved ? h(Alert, { testId: 'evidence-saved' }, saved) : null,
    h(
      'div',
      { className: 'choice' },
      h(
        'button',
        {
          type: 'button',
          onClick: () =>
            void downloadEvidence(row.session_id).then(
              () => setSaved('The evidence bundle was saved. Check it offline with: chaperone-broker evidence verify FILE'),
              (err: unknown) => setError(problem(err)),
            ),
        },
        'Download evidence',
      ),
      h('button', { type: 'button', onClick: props.onClose }, props.backLabel ?? 'Back to the recordings'),
    ),
  );
}
