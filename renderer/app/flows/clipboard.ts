import {
  ImageAssembler,
  MAX_CLIPBOARD_CHARS,
  MAX_CLIPBOARD_IMAGE_BYTES,
  decodeClipboardMessage,
  imagePieces,
  sameContent,
  type ClipboardContent,
  type ClipboardMessage,
  type ImagePiece,
} from '../../../common/clipboard/protocol.js';
import { allowsWay } from '../../../common/grant-direction.js';
import type { SessionEngine } from '../../session/engine.js';
import { getBridge } from '../services.js';
import { useAppStore } from '../store.js';

/**
 * Clipboard sync in the page, on the engine's clipboard channel. The end user's side only passes
 * text and pictures along: main reads their clipboard while the grant lets data leave it and
 * writes it while the grant lets data come (main/clipboard/watch.ts), and decides whether the
 * session may share pictures, so nothing here can read it outside a grant. The analyst's side
 * uses the browser's clipboard: what arrives is put there, and what the analyst copies is sent,
 * but only while the grant lets it go that way; their clipboard is not read before the grant or
 * after it, and pictures on it are not read unless the end user's side said the session allows them.
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

const KiB = (n: number) => `${Math.round(n / 1024).toLocaleString('en')} KB`;

const REFUSED_TEXT: Record<Extract<ClipboardMessage, { t: 'refused' }>['reason'], string> = {
  not_text: 'The end user copied something that may not be shared in this session (a file, or a picture where only text is shared), so it was not sent.',
  too_large: `The end user copied more than ${MAX_CLIPBOARD_CHARS.toLocaleString('en')} characters: that is too long to share, so it was not sent.`,
  image_too_large: `The end user copied a picture larger than ${KiB(MAX_CLIPBOARD_IMAGE_BYTES)}: too large to share, so it was not sent.`,
};

/** The bytes a piece carries, from its base64 length (it was parsed as base64 already). */
function pieceBytes(p: ImagePiece): number {
  return (p.data.length / 4) * 3 - (p.data.endsWith('==') ? 2 : p.data.endsWith('=') ? 1 : 0);
}

export function attachClipboard(e: SessionEngine, sessionId: string): void {
  detachClipboard();
  const send = (m: ClipboardMessage) => e.sendClipboard(JSON.stringify(m));
  if (e.role === 'end_user') attachEndUser(e, sessionId, send);
  else attachAnalyst(send, e);
}

function attachEndUser(e: SessionEngine, sessionId: string, send: (m: ClipboardMessage) => boolean): void {
  const bridge = getBridge();
  // Tell the analyst's side what this session allows once the grant is live, so it does not read pictures it may not send.
  const tellTerms = () =>
    void bridge.clipboard
      .terms({ sessionId })
      .then((t) => send({ t: 'terms', images: t.images }))
      .catch(() => undefined);
  if (useAppStore.getState().live.granted.includes('clipboard')) tellTerms();
  offs.push(
    useAppStore.subscribe((s, before) => {
      if (s.live.granted.includes('clipboard') && !before.live.granted.includes('clipboard')) tellTerms();
    }),
    bridge.on('clipboard.changed', (c) => {
      if (c.sessionId !== sessionId) return;
      if ('refused' in c) return void send({ t: 'refused', reason: c.refused });
      if ('text' in c) {
        if (send({ t: 'text', text: c.text })) e.recordClipboard('from_end_user', c.text.length);
        return;
      }
      // Main sends a picture in pieces, in order; the record is made with the last one sent.
      const p = c.image;
      if (send({ t: 'image', ...p }) && p.offset + pieceBytes(p) === p.size) e.recordClipboard('from_end_user', p.size, p.type);
    }),
    e.on('clipboard', (data) => {
      const m = decodeClipboardMessage(data);
      if (!m) return;
      // Main decides whether it may be written; the page cannot bypass the grant.
      switch (m.t) {
        case 'text':
          return void bridge.clipboard
            .write({ sessionId, text: m.text })
            .then((r) => r.ok && e.recordClipboard('to_end_user', m.text.length))
            .catch(() => undefined);
        case 'image': {
          const { t: _t, ...piece } = m;
          return void bridge.clipboard
            .writeImage({ sessionId, ...piece })
            .then((r) => r.ok && r.written && e.recordClipboard('to_end_user', piece.size, piece.type))
            .catch(() => undefined);
        }
        case 'refused':
        case 'terms':
          return;
        default:
          return missing(m);
      }
    }),
  );
}

/** Closes the switches over message and content kinds: a new kind does not compile until handled. */
function missing(m: never): void {
  void m;
}

function attachAnalyst(send: (m: ClipboardMessage) => boolean, e: SessionEngine): void {
  // `last` is what this side's clipboard holds as far as sync goes, so what arrived is not sent
  // back and what was there before the grant is not sent at all.
  let last: ClipboardContent | null = null;
  let images = false;
  const assembler = new ImageAssembler();
  let shownUrl: string | null = null;
  /** A look at this side's clipboard is under way (the poll's). */
  let reading = false;
  /** Writes of what arrived that have not finished: no look meanwhile, it could see either. */
  let writing = 0;
  /**
   * Bumped by each arrival: a look that was under way across one saw the clipboard before the
   * arrival was written, and taking that as `last` would send the other side's own content back
   * on the next tick (main's ClipboardWatch guards its reads the same way).
   */
  let arrivals = 0;
  const writeArrived = (write: Promise<unknown>) => {
    writing++;
    void write.finally(() => writing--);
  };
  const show = (bytes: Uint8Array) => {
    if (shownUrl) URL.revokeObjectURL(shownUrl);
    shownUrl = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
    patch({ image: { url: shownUrl, bytes: bytes.length }, note: null });
  };
  offs.push(
    e.on('clipboard', (data) => {
      const m = decodeClipboardMessage(data);
      if (!m) return;
      if (m.t === 'terms') {
        images = m.images;
        return patch({ images: m.images });
      }
      if (!grantLets('from_end_user')) return;
      switch (m.t) {
        case 'refused':
          return patch({ note: REFUSED_TEXT[m.reason] });
        case 'text':
          arrivals++;
          last = { kind: 'text', text: m.text };
          patch({ received: m.text, note: null });
          return writeArrived((navigator.clipboard ? navigator.clipboard.writeText(m.text) : Promise.reject(new Error('no clipboard'))).catch(() => patch({ note: 'Your browser did not let this page write your clipboard: copy the text from the box.' })));
        case 'image': {
          if (!images) return;
          const whole = assembler.add(m);
          if (!whole) return;
          arrivals++;
          last = { kind: 'image', type: whole.type, bytes: whole.bytes };
          show(whole.bytes);
          const item = typeof ClipboardItem === 'function' ? new ClipboardItem({ [whole.type]: new Blob([whole.bytes as Uint8Array<ArrayBuffer>], { type: whole.type }) }) : null;
          const mine = arrivals;
          return writeArrived(
            (item && navigator.clipboard?.write ? navigator.clipboard.write([item]) : Promise.reject(new Error('no clipboard')))
              // The browser stores its own encoding of the picture: that, not the bytes that came, is what must not go back.
              .then(async () => {
                const own = await readOwn(true);
                if (arrivals === mine) last = own;
              })
              .catch(() => patch({ note: 'Your browser did not let this page put the picture in your clipboard: it is shown here instead.' })),
          );
        }
        default:
          return missing(m);
      }
    }),
    () => {
      if (shownUrl) URL.revokeObjectURL(shownUrl);
    },
  );
  const timer = setInterval(() => {
    if (!grantLets('to_end_user')) {
      last = null;
      return;
    }
    if (reading || writing > 0 || !navigator.clipboard?.readText) return;
    reading = true;
    const arrivalsBefore = arrivals;
    readOwn(images)
      .then((c) => {
        if (!grantLets('to_end_user') || arrivals !== arrivalsBefore) return;
        const before = last;
        last = c;
        if (before === null || sameContent(before, c)) return;
        switch (c.kind) {
          case 'empty':
            return;
          case 'text':
            if (c.text.length > MAX_CLIPBOARD_CHARS) return patch({ note: `You copied more than ${MAX_CLIPBOARD_CHARS.toLocaleString('en')} characters: too long to share, not sent.` });
            if (send({ t: 'text', text: c.text })) patch({ sent: useAppStore.getState().live.clipboard.sent + 1, note: null });
            return;
          case 'image':
            if (c.bytes === null) return patch({ note: c.tooLarge ? `You copied a picture larger than ${KiB(MAX_CLIPBOARD_IMAGE_BYTES)}: too large to share, not sent.` : null });
            if (imagePieces(c.type, c.bytes).every((p) => send({ t: 'image', ...p }))) patch({ sent: useAppStore.getState().live.clipboard.sent + 1, note: null });
            return;
          default:
            return missing(c);
        }
      })
      .catch(() => undefined)
      .finally(() => (reading = false));
  }, POLL_MS);
  offs.push(() => clearInterval(timer));
}

/** The analyst's own clipboard: text, or a PNG only when the session allows pictures (otherwise never read). */
async function readOwn(images: boolean): Promise<ClipboardContent> {
  if (!images || !navigator.clipboard.read) {
    const text = await navigator.clipboard.readText();
    return text ? { kind: 'text', text } : { kind: 'empty' };
  }
  const items = await navigator.clipboard.read();
  const textItem = items.find((i) => i.types.includes('text/plain'));
  if (textItem) {
    const text = await (await textItem.getType('text/plain')).text();
    return text ? { kind: 'text', text } : { kind: 'empty' };
  }
  const pic = items.find((i) => i.types.includes('image/png'));
  if (!pic) return { kind: 'empty' };
  const blob = await pic.getType('image/png');
  if (blob.size > MAX_CLIPBOARD_IMAGE_BYTES) return { kind: 'image', type: 'image/png', bytes: null, tooLarge: true };
  return { kind: 'image', type: 'image/png', bytes: new Uint8Array(await blob.arrayBuffer()) };
}

export function detachClipboard(): void {
  for (const off of offs.splice(0)) off();
}
