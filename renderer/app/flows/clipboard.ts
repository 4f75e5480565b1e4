import { MAX_CLIPBOARD_CHARS, decodeClipboardMessage, type ClipboardMessage } from '../../../common/clipboard/protocol.js';
import { allowsWay } from '../../../common/grant-direction.js';
import type { SessionEngine } from '../../session/engine.js';
import { getBridge } from '../services.js';
import { useAppStore } from '../store.js';

/**
 * Clipboard sync in the page, on the engine's clipboard channel. The end user's side only passes
 * text along: main reads their clipboard while the grant lets text leave it and writes it while
 * the grant lets text come (main/clipboard/watch.ts), so nothing here can read it outside a
 * grant. The analyst's side uses the browser's clipboard: text that arrives is put there, and
 * what the analyst copies is sent, but only while the grant lets it go that way; their clipboard
 * is not read before the grant or after it.
 */

const POLL_MS = 250;
const offs: (() => void)[] = [];

function grantLets(way: 'to_end_user' | 'from_end_user'): boolean {
  const live = useAppStore.getState().live;
  return live.granted.includes('clipboard') && allowsWay(live.grantDirections.clipboard, way);
}

function patch(p: Partial<ReturnType<typeof useAppStore.getState>['live']['clipboard']>): void {
  const s = useAppStore.getState();
  s.setLive({ clipboard: { ...s.live.clipboard, ...p } });
}

const REFUSED_TEXT: Record<Extract<ClipboardMessage, { t: 'refused' }>['reason'], string> = {
  not_text: 'The end user copied something that is not text (a picture or a file): only text is shared, so it was not sent.',
  too_large: `The end user copied more than ${MAX_CLIPBOARD_CHARS.toLocaleString('en')} characters: that is too long to share, so it was not sent.`,
};

export function attachClipboard(e: SessionEngine, sessionId: string): void {
  detachClipboard();
  const send = (m: ClipboardMessage) => e.sendClipboard(JSON.stringify(m));
  if (e.role === 'end_user') {
    offs.push(
      getBridge().on('clipboard.changed', (c) => {
        if (c.sessionId !== sessionId) return;
        if (!('text' in c)) return void send({ t: 'refused', reason: c.refused });
        if (send({ t: 'text', text: c.text })) e.recordClipboard('from_end_user', c.text.length);
      }),
      e.on('clipboard', (data) => {
        const m = decodeClipboardMessage(data);
        // Main decides whether it may be written; the page cannot bypass the grant.
        if (m?.t !== 'text') return;
        void getBridge()
          .clipboard.write({ sessionId, text: m.text })
          .then((r) => r.ok && e.recordClipboard('to_end_user', m.text.length))
          .catch(() => undefined);
      }),
    );
    return;
  }
  // The analyst: `last` is what this side's clipboard holds as far as sync goes, so text that
  // arrived is not sent back and what was there before the grant is not sent at all.
  let last: string | null = null;
  offs.push(
    e.on('clipboard', (data) => {
      const m = decodeClipboardMessage(data);
      if (!m || !grantLets('from_end_user')) return;
      if (m.t === 'refused') return patch({ note: REFUSED_TEXT[m.reason] });
      last = m.text;
      patch({ received: m.text, note: null });
      void navigator.clipboard?.writeText(m.text).catch(() => patch({ note: 'Your browser did not let this page write your clipboard: copy the text from the box.' }));
    }),
  );
  let reading = false;
  const timer = setInterval(() => {
    if (!grantLets('to_end_user')) {
      last = null;
      return;
    }
    if (reading || !navigator.clipboard?.readText) return;
    reading = true;
    navigator.clipboard
      .readText()
      .then((text) => {
        if (!grantLets('to_end_user')) return;
        const before = last;
        last = text;
        if (before === null || text === before || text === '') return;
        if (text.length > MAX_CLIPBOARD_CHARS) return patch({ note: `You copied more than ${MAX_CLIPBOARD_CHARS.toLocaleString('en')} characters: too long to share, not sent.` });
        if (send({ t: 'text', text })) patch({ sent: useAppStore.getState().live.clipboard.sent + 1, note: null });
      })
      .catch(() => undefined)
      .finally(() => (reading = false));
  }, POLL_MS);
  offs.push(() => clearInterval(timer));
}

export function detachClipboard(): void {
  for (const off of offs.splice(0)) off();
}
