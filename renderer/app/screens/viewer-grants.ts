import { useState, type ReactNode } from 'react';
import { DIRECTION_LABELS, GRANT_DIRECTIONS, type GrantDirection } from '../../../common/grant-direction.js';
import { allowsWay } from '../../../common/grant-direction.js';
import { releaseGrant, requestCapability } from '../flows/session.js';
import { useAppStore } from '../store.js';
import { Dialog } from './dialog.js';
import { SendFileButton } from './transfers.js';
import { h } from './ui.js';

type DataCapability = 'clipboard' | 'files';
const NAMES: Record<DataCapability, string> = { clipboard: 'clipboard', files: 'files' };

/**
 * The analyst's buttons for clipboard and files: each is asked for on its own, with the way data
 * may go, and only when the session was approved for it. Once granted, the bar says which way and
 * offers to give it back.
 */
export function ViewerGrantButtons(): ReactNode {
  const live = useAppStore((s) => s.live);
  const [asking, setAsking] = useState<DataCapability | null>(null);
  const connected = live.state === 'connected';
  return h(
    'span',
    { className: 'viewer-grants' },
    ...(['clipboard', 'files'] as const)
      .filter((c) => live.capabilities.includes(c))
      .map((c) =>
        live.granted.includes(c)
          ? h(
              'span',
              { key: c, 'data-testid': `viewer-${c}-on` },
              `${c === 'clipboard' ? 'Clipboard' : 'Files'}: ${DIRECTION_LABELS[live.grantDirections[c] ?? 'both'].toLowerCase()} `,
              c === 'files' && allowsWay(live.grantDirections.files, 'to_end_user') ? h(SendFileButton) : null,
              h('button', { type: 'button', onClick: () => releaseGrant(c) }, `Give ${NAMES[c]} back`),
            )
          : h(
              'button',
              { key: c, type: 'button', onClick: () => setAsking(c), disabled: !connected || live.pendingRequest !== null, 'data-testid': `request-${c}` },
              live.pendingRequest === c ? 'Waiting for the end user…' : `Ask for ${NAMES[c]}…`,
            ),
      ),
    asking && connected ? h(AskDialog, { capability: asking, onClose: () => setAsking(null) }) : null,
  );
}

const WAY_TEXT: Record<DataCapability, Record<GrantDirection, string>> = {
  clipboard: {
    both: 'Text copied on either side arrives on the other.',
    to_end_user: 'Text you copy arrives in their clipboard; nothing of theirs reaches you.',
    from_end_user: 'Text they copy reaches you; nothing is put in their clipboard.',
  },
  files: {
    both: 'You can offer them files, and they can send you files they choose.',
    to_end_user: 'You can offer them files; they accept or refuse each one.',
    from_end_user: 'They can send you files they choose with "Send a file".',
  },
};

/** Which way: the end user's prompt says exactly this, and their computer lets nothing go the other way. */
function AskDialog(props: { capability: DataCapability; onClose: () => void }): ReactNode {
  const [way, setWay] = useState<GrantDirection>(props.capability === 'files' ? 'to_end_user' : 'both');
  const id = `ask-${props.capability}`;
  return h(
    Dialog,
    { labelledBy: `${id}-title`, describedBy: `${id}-desc`, testId: `${id}-dialog`, onEscape: props.onClose },
    h('h2', { id: `${id}-title` }, props.capability === 'clipboard' ? 'Ask to share the clipboard' : 'Ask to transfer files'),
    h('p', { id: `${id}-desc` }, 'The end user is asked exactly this, and decides.'),
    h(
      'form',
      {
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          requestCapability(props.capability, way);
          props.onClose();
        },
      },
      h(
        'fieldset',
        null,
        h('legend', null, 'Which way'),
        ...GRANT_DIRECTIONS.map((d) =>
          h(
            'div',
            { key: d, className: 'check' },
            h('input', { type: 'radio', id: `${id}-${d}`, name: `${id}-way`, checked: way === d, onChange: () => setWay(d), 'aria-describedby': `${id}-${d}-desc` }),
            h('label', { htmlFor: `${id}-${d}` }, DIRECTION_LABELS[d]),
            h('span', { id: `${id}-${d}-desc`, className: 'hint' }, ` ${WAY_TEXT[props.capability][d]}`),
          ),
        ),
      ),
      h('div', { className: 'choice' }, h('button', { type: 'submit', className: 'choice-button accept' }, 'Ask the end user'), h('button', { type: 'button', className: 'choice-button', onClick: props.onClose }, 'Cancel')),
    ),
  );
}
