import { useState, type ReactNode } from 'react';
import { ANALYST_KINDS, type AnalystKind } from '../../../common/roles.js';
import { ON_LEAVE, RequireWatcherSchema, WATCHER_ROLES, type OnLeave, type RequireWatcher, type WatcherRole } from '../../../common/watch.js';
import type { PolicyView } from '../flows/admin.js';
import { Field, h } from './ui.js';

const KIND_WORDS: Record<AnalystKind, string> = { internal: 'internal staff', vendor: 'an outside vendor', incident_responder: 'an incident responder' };
const ON_LEAVE_WORDS: Record<OnLeave, string> = { suspend: 'suspend control until one is back', end: 'suspend control, and end the session after the grace time' };
const WATCHER_ROLE_WORDS: Record<WatcherRole, string> = { supervisor: 'supervisors', admin: 'admins' };

/**
 * Watching (issue 12): whether supervisors may watch at all (the end user is told on the consent
 * screen) and the four-eyes rule: which sessions need watchers before control, how many, and what
 * happens when they leave.
 */
export function WatcherPolicy(props: {
  p: PolicyView;
  set: (patch: Partial<PolicyView>) => void;
  num: (id: string, label: string, hint: string, value: number, onValue: (n: number) => void) => ReactNode;
  boxes: <T extends string>(legend: string, all: readonly T[], chosen: readonly T[], words: (v: T) => string, onList: (l: T[]) => void) => ReactNode;
}): ReactNode {
  const { p, set, num, boxes } = props;
  const rw = p.require_watcher;
  const setRw = (patch: Partial<RequireWatcher>) => rw && set({ require_watcher: { ...rw, ...patch } });
  const [prefixes, setPrefixes] = useState(rw?.for.ticket_prefixes.join(', ') ?? '');
  return h(
    'fieldset',
    { 'data-testid': 'policy-watchers' },
    h('legend', null, 'Watching live sessions'),
    h(
      'label',
      { className: 'policy-check' },
      h('input', { type: 'checkbox', checked: p.watchers_allowed, onChange: (e: { target: { checked: boolean } }) => set({ watchers_allowed: e.target.checked, require_watcher: e.target.checked ? p.require_watcher : null }) }),
      ' Supervisors may watch sessions (the end user reads this before accepting, and sees every watcher’s name)',
    ),
    h(
      'label',
      { className: 'policy-check' },
      h('input', {
        type: 'checkbox',
        checked: rw !== null,
        disabled: !p.watchers_allowed,
        onChange: (e: { target: { checked: boolean } }) => set({ require_watcher: e.target.checked ? RequireWatcherSchema.parse({}) : null }),
      }),
      ' Some sessions need a watcher before the analyst may ask for control (four eyes)',
    ),
    rw
      ? h(
          'div',
          { className: 'policy-sub' },
          boxes('…for sessions whose analyst is', ANALYST_KINDS, rw.for.analyst_kinds, (k) => KIND_WORDS[k], (l) => setRw({ for: { ...rw.for, analyst_kinds: l } })),
          h(
            Field,
            { id: 'pol-rw-prefixes', label: '…or whose ticket starts with', hint: 'Separate with commas, like CHG-, SEC-. Nothing here and no analyst kind ticked: every session' },
            h('input', {
              id: 'pol-rw-prefixes',
              'aria-describedby': 'pol-rw-prefixes-hint',
              value: prefixes,
              onChange: (e: { target: { value: string } }) => {
                setPrefixes(e.target.value);
                setRw({ for: { ...rw.for, ticket_prefixes: e.target.value.split(',').map((x) => x.trim()).filter(Boolean) } });
              },
            }),
          ),
          num('pol-rw-count', 'Watchers needed', 'How many must be watching at once before control', rw.count, (n) => setRw({ count: n })),
          boxes('Who counts as a watcher', WATCHER_ROLES, rw.roles, (r) => WATCHER_ROLE_WORDS[r], (l) => setRw({ roles: l })),
          h(
            Field,
            { id: 'pol-rw-leave', label: 'When too few are left' },
            h('select', { id: 'pol-rw-leave', value: rw.on_leave, onChange: (e: { target: { value: string } }) => setRw({ on_leave: e.target.value as OnLeave }) }, ...ON_LEAVE.map((m) => h('option', { key: m, value: m }, ON_LEAVE_WORDS[m]))),
          ),
          rw.on_leave === 'end' ? num('pol-rw-grace', 'Grace time (seconds)', 'How long the session waits for a watcher to come back before it ends', rw.grace_s, (n) => setRw({ grace_s: n })) : null,
          h('p', { className: 'small' }, 'The approver of a session may watch it but does not count as its watcher.'),
        )
      : null,
  );
}
