import type { ReactNode } from 'react';
import { allowsWay } from '../../../common/grant-direction.js';
import { useAppStore } from '../store.js';
import { Alert, h } from './ui.js';

/** The analyst's side of clipboard sync while it is granted: which way it goes and what arrived. */
export function ClipboardPanel(): ReactNode {
  const live = useAppStore((s) => s.live);
  if (!live.granted.includes('clipboard')) return null;
  const dir = live.grantDirections.clipboard;
  const fromThem = allowsWay(dir, 'from_end_user');
  const toThem = allowsWay(dir, 'to_end_user');
  return h(
    'section',
    { className: 'transfers', 'aria-labelledby': 'clip-title', 'data-testid': 'clipboard-panel' },
    h('h2', { id: 'clip-title' }, 'Clipboard'),
    h('p', { className: 'small', 'data-testid': 'clipboard-terms' }, live.clipboard.images ? 'Text and pictures (PNG) may be copied in this session.' : 'Only text may be copied in this session.'),
    toThem ? h('p', { className: 'small', 'data-testid': 'clipboard-to-them' }, `${live.clipboard.images ? 'Text and pictures' : 'Text'} you copy go${live.clipboard.images ? '' : 'es'} to their clipboard.${live.clipboard.sent > 0 ? ` Sent ${live.clipboard.sent} time${live.clipboard.sent === 1 ? '' : 's'}.` : ''}`) : null,
    fromThem
      ? h(
          'div',
          null,
          h('label', { htmlFor: 'clip-received', className: 'small' }, 'Text the end user copied last (also put in your clipboard)'),
          h('textarea', { id: 'clip-received', readOnly: true, rows: 3, value: live.clipboard.received ?? '', 'data-testid': 'clipboard-received' }),
        )
      : null,
    fromThem && live.clipboard.image
      ? h(
          'figure',
          { className: 'clip-image', 'data-testid': 'clipboard-image', 'data-bytes': live.clipboard.image.bytes },
          h('img', { src: live.clipboard.image.url, alt: 'The picture the end user copied last', style: { maxWidth: '100%', maxHeight: '12rem' } }),
          h('figcaption', { className: 'small' }, `Picture the end user copied last, ${Math.max(1, Math.round(live.clipboard.image.bytes / 1024))} KB (also put in your clipboard)`),
        )
      : null,
    live.clipboard.note ? h(Alert, { testId: 'clipboard-note' }, live.clipboard.note) : null,
  );
}
