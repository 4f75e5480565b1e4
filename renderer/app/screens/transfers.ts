import type { ReactNode } from 'react';
import type { TransferView } from '../../session/file-transfers.js';
import { answerFile, cancelFile } from '../flows/files.js';
import { useAppStore } from '../store.js';
import { Dialog } from './dialog.js';
import { h } from './ui.js';

/** 52428800 -> "50.0 MB" (decimal units, as file managers show them). */
export function bytesText(n: number): string {
  if (n < 1000) return `${n} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

const ACTIVE = new Set(['hashing', 'offered', 'waiting', 'sending', 'receiving', 'checking']);

function stateText(t: TransferView, otherSide: string): string {
  switch (t.state) {
    case 'hashing':
      return 'Preparing (checking the file)…';
    case 'offered':
      return t.way === 'out' ? `Waiting for ${otherSide} to accept…` : 'Waiting for your answer…';
    case 'sending':
    case 'receiving':
    case 'waiting':
      return t.way === 'out' ? 'Sending…' : 'Receiving…';
    case 'checking':
      return 'Checking that the file arrived intact…';
    case 'saved':
      return t.way === 'in' ? `Saved in your Downloads folder as “${t.detail ?? t.name}”. Its SHA-256 matched.` : `Delivered: saved as “${t.detail ?? t.name}”, SHA-256 matched.`;
    case 'refused':
      return t.way === 'out' ? `${otherSide.charAt(0).toUpperCase()}${otherSide.slice(1)} refused the file${t.detail && t.detail !== 'declined' ? ` (${t.detail})` : ''}. Nothing was written.` : 'You refused the file. Nothing was written.';
    case 'cancelled':
      return `Stopped${t.detail ? ` (${t.detail.replace(/_/g, ' ')})` : ''}. Nothing was kept.`;
    case 'failed':
      return `Failed (${(t.detail ?? 'error').replace(/_/g, ' ')}). Nothing was kept.`;
    default:
      return t.state;
  }
}

/** Progress of file transfers, on either side: how much, how fast, how long still, and Cancel. */
export function TransferList(props: { otherSide: string }): ReactNode {
  const transfers = useAppStore((s) => s.live.transfers);
  if (transfers.length === 0) return null;
  return h(
    'section',
    { className: 'transfers', 'aria-labelledby': 'transfers-title', 'data-testid': 'transfers' },
    h('h2', { id: 'transfers-title' }, 'Files'),
    h(
      'ul',
      null,
      ...transfers.map((t) => {
        const shown = t.way === 'out' ? Math.min(t.done, t.size) : t.done;
        const active = ACTIVE.has(t.state);
        return h(
          'li',
          { key: `${t.way}-${t.id}`, 'data-testid': `transfer-${t.way}`, 'data-state': t.state },
          h('strong', null, h('bdi', null, t.name)),
          ` (${bytesText(t.size)}) ${t.way === 'out' ? `to ${props.otherSide}` : `from ${props.otherSide}`}`,
          h('br'),
          h('progress', { max: t.size || 1, value: t.size === 0 ? 1 : shown, 'aria-label': `${t.name}: ${Math.floor((shown / (t.size || 1)) * 100)}%` }),
          h(
            'span',
            { className: 'small', 'data-testid': `transfer-${t.way}-progress` },
            ` ${bytesText(shown)} of ${bytesText(t.size)}`,
            t.bytesPerSecond > 0 && active ? `, ${bytesText(Math.round(t.bytesPerSecond))}/s` : '',
            t.secondsLeft !== null && active ? `, ${t.secondsLeft} s left` : '',
          ),
          h('p', { className: 'small', 'data-testid': `transfer-${t.way}-state` }, stateText(t, props.otherSide)),
          active && t.state !== 'offered' ? h('button', { type: 'button', onClick: () => void cancelFile(t.id), 'data-testid': `transfer-${t.way}-cancel` }, 'Cancel transfer') : null,
        );
      }),
    ),
  );
}

/** The end user decides about each file before a byte of it is written: name, size and sender shown. */
export function FileOfferPrompt(): ReactNode {
  const live = useAppStore((s) => s.live);
  const t = live.transfers.find((x) => x.way === 'in' && x.state === 'offered');
  if (!t) return null;
  const who = live.peerName ?? 'Support';
  return h(
    Dialog,
    { alert: true, labelledBy: 'fo-title', describedBy: 'fo-desc', testId: 'file-offer', onEscape: () => void answerFile(t.id, false) },
    h('h2', { id: 'fo-title' }, h('bdi', null, who), ' wants to send you a file'),
    h(
      'dl',
      { className: 'facts', id: 'fo-desc' },
      h('dt', null, 'File'),
      h('dd', { 'data-testid': 'file-offer-name' }, h('bdi', null, t.name)),
      h('dt', null, 'Size'),
      h('dd', { 'data-testid': 'file-offer-size' }, bytesText(t.size)),
      h('dt', null, 'From'),
      h('dd', null, h('bdi', null, who)),
      h('dt', null, 'Saved to'),
      h('dd', null, 'Your Downloads folder. Nothing there is replaced; the file is kept only if it arrives intact.'),
    ),
    h(
      'div',
      { className: 'choice' },
      h('button', { type: 'button', className: 'choice-button accept', onClick: () => void answerFile(t.id, true) }, 'Accept file'),
      h('button', { type: 'button', className: 'choice-button decline', onClick: () => void answerFile(t.id, false) }, 'Refuse'),
    ),
  );
}
