import type { ReactNode } from 'react';
import type { ControlState, PresenceEntry } from '../../../common/protocol/watch.js';
import { missingCase } from '../../../common/missing-case.js';
import { Countdown, h } from './ui.js';

/**
 * Who is present in a session and whether control is suspended, in the words each reader needs:
 * the end user (banner), the analyst (viewer) and the watcher. Names and organisations come from
 * the broker: each is shown isolated in a <bdi> so right-to-left text cannot reorder the line.
 */

const ROLE_WORDS: Record<PresenceEntry['role'], string> = {
  analyst: 'helping you',
  supervisor: 'supervisor, watching',
  admin: 'administrator, watching',
};
const STAFF_ROLE_WORDS: Record<PresenceEntry['role'], string> = {
  analyst: 'analyst',
  supervisor: 'supervisor, watching',
  admin: 'admin, watching',
};

const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** Everyone present, one item each: name, organisation, what they do here, since when. */
export function PresenceList(props: { present: PresenceEntry[]; audience: 'end_user' | 'staff'; testId: string; me?: string | null }): ReactNode {
  const words = props.audience === 'end_user' ? ROLE_WORDS : STAFF_ROLE_WORDS;
  return h(
    'ul',
    { className: 'presence', 'data-testid': props.testId, 'aria-live': 'polite' },
    ...props.present.map((p) =>
      h(
        'li',
        { key: p.id, 'data-kind': p.kind },
        h('bdi', { className: 'presence-name' }, p.name),
        props.me && p.id === props.me ? ' (you)' : '',
        ' — ',
        h('bdi', null, p.organisation),
        `, ${words[p.role]}`,
        p.kind === 'watcher' ? `, since ${time(p.since)}` : '',
      ),
    ),
  );
}

export function watchers(present: PresenceEntry[]): PresenceEntry[] {
  return present.filter((p) => p.kind === 'watcher');
}

/** The banner's line about watchers: nobody watches unseen. */
export function watchingLine(present: PresenceEntry[]): ReactNode {
  const w = watchers(present);
  if (w.length === 0) return 'Nobody else is watching';
  return h('span', null, w.length === 1 ? 'Also watching: ' : `Also watching (${w.length}): `, ...w.flatMap((p, i) => [i > 0 ? ', ' : '', h('bdi', { key: p.id }, p.name), ' (', h('bdi', { key: `${p.id}-o` }, p.organisation), ')']));
}

/** Why control is suspended, for one reader; null when it is not. */
export function suspendedText(c: ControlState | null, audience: 'end_user' | 'analyst' | 'watcher'): ReactNode {
  if (!c?.suspended) return null;
  const parts: ReactNode[] = [];
  for (const r of c.reasons) {
    switch (r) {
      case 'by_watcher':
        parts.push(
          h(
            'span',
            { key: r },
            h('bdi', null, c.by ?? 'A watcher'),
            ' suspended control',
            c.note ? h('span', null, ': ', h('q', null, h('bdi', null, c.note))) : '',
            '. ',
          ),
        );
        break;
      case 'watcher_left':
        parts.push(h('span', { key: r }, 'Control is suspended because the watcher this session needs has left. '));
        break;
      default:
        return missingCase(r);
    }
  }
  const after =
    audience === 'end_user'
      ? 'Your mouse and keyboard are yours alone until it is resumed; your computer ignores the analyst’s input.'
      : audience === 'analyst'
        ? 'Your mouse and keyboard do not reach the end user’s computer until it is resumed.'
        : 'The end user’s computer ignores the analyst’s mouse and keyboard.';
  return h(
    'span',
    null,
    ...parts,
    after,
    c.ends_at !== null ? h('span', null, ' Unless a watcher returns, the session ends in ', h(Countdown, { until: c.ends_at, label: 'Session ends in' }), '.') : null,
  );
}

/** Why the analyst cannot ask for control yet (the four-eyes rule), or null. */
export function waitingForWatcherText(needed: number): string | null {
  if (needed <= 0) return null;
  return `Policy needs ${needed === 1 ? 'a supervisor' : `${needed} more supervisors`} watching this session before you can ask for control. You can see the screen meanwhile; the button works once ${needed === 1 ? 'one joins' : 'they join'}.`;
}
