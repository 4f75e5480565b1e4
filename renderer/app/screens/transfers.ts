import type { ReactNode } from 'react';
import type { TransferView } from '../../session/file-transfers.js';
import { answerFile, cancelFile, sendFile } from '../flows/files.js';
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

/** `side`: whose page this is (where received files land differs). */
export type Side = 'end_user' | 'analyst';

function stateText(t: TransferView, otherSide: string, side: Side): string {
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
      if (t.way === 'out') return `Delivered: saved as “${t.detail ?? t.name}”, SHA-256 matched.`;
      return side === 'end_user' ? `Saved in your Downloads folder as “${t.detail ?? t.name}”. Its SHA-256 matched.` : `Downloaded as “${t.detail ?? t.name}” (your browser's downloads). Its SHA-256 matched.`;
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
export function TransferList(props: { otherSide: string; side: Side }): ReactNode {
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
          h('p', { className: 'small', 'data-testid': `transfer-${t.way}-state` }, stateText(t, props.otherSide, props.side)),
          active && t.state !== 'offered' ? h('button', { type: 'button', onClick: () => void cancelFile(t.id), 'data-testid': `transfer-${t.way}-cancel` }, 'Cancel transfer') : null,
        );
      }),
    ),
  );
}

const SAVED_TO: Record<Side, string> = {
  end_user: 'Your Downloads folder. Nothing there is replaced; the file is kept only if it arrives intact.',
  analyst: "Your browser's downloads, only once the whole file has arrived and its SHA-256 matched.",
};

/** The receiving side decides about each file before a byte of it is kept: name, size and sender shown. */
export function FileOfferPrompt(props: { side: Side }): ReactNode {
  const live = useAppStore((s) => s.live);
  const t = live.transfers.find((x) => x.way === 'in' && x.state === 'offered');
  if (!t) return null;
  const name = props.side === 'end_user' ? (live.peerName ?? 'Support') : (live.peerName ?? 'The end user');
  // The analyst's page names the other side "the end user": it starts the sentence here.
  const who = `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
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
      h('dd', { 'data-testid': 'file-offer-from' }, h('bdi', null, who)),
      h('dt', null, 'Saved to'),
      h('dd', null, SAVED_TO[props.side]),
    ),
    h(
      'div',
      { className: 'choice' },
      h('button', { type: 'button', className: 'choice-button accept', onClick: () => void answerFile(t.id, true) }, 'Accept file'),
      h('button', { type: 'button', className: 'choice-button decline', onClick: () => void answerFile(t.id, false) }, 'Refuse'),
    ),
  );
}

/** The browser's own file picker, one file at a time: the only way a file leaves this side. */
export function SendFileButton(): ReactNode {
  const busy = useAppStore((s) => s.live.transfers.some((t) => t.way === 'out' && ['hashing', 'offered', 'sending', 'waiting'].includes(t.state)));
  return h(
    'label',
    { className: `file-pick${busy ? ' file-pick-busy' : ''}` },
    busy ? 'Sending a file…' : 'Send a file…',
    h('input', {
      type: 'file',
      className: 'visually-hidden',
      disabled: busy,
      'data-testid': 'send-file-input',
      onChange: (e: { target: { files: FileList | null; value: string } }) => {
        const f = e.target.files?.[0];
        e.target.value = '';
        if (f) void sendFile(f);
      },
    }),
  );
}
