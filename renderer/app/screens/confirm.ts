import { useState, type ReactNode } from 'react';
import { Dialog } from './dialog.js';
import { Field, h } from './ui.js';

/**
 * "Are you sure?" before an action that cannot be undone (cancel a request, end a session, the
 * kill switch). Escape and the second button keep things as they are. With `reason`, a short
 * optional text field whose words travel with the action.
 */
export function ConfirmDialog(props: {
  id: string;
  title: string;
  body: string;
  confirm: string;
  keep: string;
  onConfirm: (reason: string) => void;
  onKeep: () => void;
  reason?: { label: string; hint: string; max: number };
}): ReactNode {
  const [reason, setReason] = useState('');
  const r = props.reason;
  return h(
    Dialog,
    { labelledBy: `${props.id}-title`, describedBy: `${props.id}-desc`, testId: `${props.id}-confirm`, onEscape: props.onKeep },
    h('h2', { id: `${props.id}-title` }, props.title),
    h('p', { id: `${props.id}-desc` }, props.body),
    h(
      'form',
      {
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          props.onConfirm(reason.trim());
        },
      },
      r
        ? h(
            Field,
            { id: `${props.id}-reason`, label: r.label, hint: r.hint },
            h('input', { id: `${props.id}-reason`, value: reason, maxLength: r.max, 'aria-describedby': `${props.id}-reason-hint`, onChange: (e: { target: { value: string } }) => setReason(e.target.value) }),
          )
        : null,
      h(
        'div',
        { className: 'choice' },
        h('button', { type: 'submit', className: 'choice-button danger' }, props.confirm),
        h('button', { type: 'button', className: 'choice-button', onClick: props.onKeep }, props.keep),
      ),
    ),
  );
}
