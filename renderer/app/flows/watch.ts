import { LiveListSchema, ModerationAnswerSchema, NoteAnswerSchema, WatchTicketSchema, type LiveSessionRow } from '../../../common/protocol/watch.js';
import { SessionViewSchema } from '../../../common/protocol/responses.js';
import { missingCase } from '../../../common/missing-case.js';
import { LivePicture, type PictureStatus } from '../../watch/live-picture.js';
import { WatchLink, type WatchEvent, type WatchSocket } from '../../watch/watch-link.js';
import { getBridge, staffBroker } from '../services.js';
import { brokerNow, useAppStore } from '../store.js';
import { problem } from './admin.js';

/**
 * The supervisor's side of monitored sessions (docs/api.md, "Watching a session"): the Live
 * list, one watch at a time (a ticket, then the watch socket), the picture from the relayed
 * recording chunks, and the moderation calls. The broker decides who is present and whether
 * control is suspended; this only shows what it says.
 */

const store = () => useAppStore.getState();
let listPoll: ReturnType<typeof setInterval> | null = null;
let link: WatchLink | null = null;
let picture: LivePicture | null = null;
/** Chunks that came before the video element was there (the first moments of a watch). */
let early: { seq: number; bytes: Uint8Array; live: boolean }[] = [];

export async function loadLive(): Promise<void> {
  try {
    const r = await staffBroker().get('/api/v1/live', LiveListSchema);
    store().setWatch({ rows: r.sessions, loaded: true, error: null });
  } catch (err) {
    store().setWatch({ loaded: true, error: problem(err) });
  }
}

/** Keeps the Live list fresh while the screen shows it. */
export function watchLiveList(): () => void {
  void loadLive();
  if (listPoll) clearInterval(listPoll);
  listPoll = setInterval(() => void loadLive(), 2000);
  return () => {
    if (listPoll) clearInterval(listPoll);
    listPoll = null;
  };
}

export async function startWatching(row: LiveSessionRow): Promise<void> {
  stopWatching();
  store().setWatch({
    current: { sessionId: row.session_id, row, phase: 'opening', counts: false, picture: false, present: row.present, watchersNeeded: row.watchers_needed, control: row.control, grants: row.grants, expiresAt: row.expires_at, ended: null, message: null, busy: false },
  });
  try {
    const t = await staffBroker().post(`/api/v1/sessions/${row.session_id}/watch`, {}, WatchTicketSchema);
    if (store().watch.current?.sessionId !== row.session_id) return;
    const bridge = getBridge();
    const url = `${staffBroker().baseUrl.replace(/^http/, 'ws')}${t.url}`;
    const l = new WatchLink(
      url,
      t.token,
      (nonce, token) => bridge.device.nonceProof({ nonce, token }),
      (u) => new WebSocket(u) as unknown as WatchSocket,
      { now: () => brokerNow(), setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms), clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>) },
      (e) => onEvent(row.session_id, e),
    );
    link = l;
    l.start();
  } catch (err) {
    store().setWatching({ phase: 'ended', message: { kind: 'error', text: problem(err) } });
  }
}

/** Leaving: the socket closes and the broker tells everyone present. */
export function stopWatching(): void {
  link?.close();
  link = null;
  picture?.close();
  picture = null;
  early = [];
  store().setWatch({ current: null });
}

/** The watcher's <video> is on the page: the picture starts (with anything that came before it). */
export function attachPicture(video: HTMLVideoElement, onStatus: (s: PictureStatus) => void): () => void {
  picture?.close();
  const p = new LivePicture(video, onStatus);
  picture = p;
  for (const c of early) p.push(c.seq, c.bytes, c.live);
  early = [];
  return () => {
    p.close();
    if (picture === p) picture = null;
  };
}

function onEvent(sessionId: string, e: WatchEvent): void {
  const s = store();
  if (s.watch.current?.sessionId !== sessionId) return;
  switch (e.kind) {
    case 'chunk':
      if (picture) picture.push(e.seq, e.bytes, e.live);
      else early.push(e);
      return;
    case 'closed':
      link = null;
      // For whoever reads the console; the screen says it in words.
      if (e.code !== 1000 && e.code !== 4000) console.warn(`watch socket closed: ${e.code} ${e.reason}`);
      if (s.watch.current.phase !== 'ended') s.setWatching({ phase: 'ended', ended: s.watch.current.ended ?? { reason: e.code === 4006 ? 'lapsed' : 'closed', note: null } });
      return;
    case 'frame':
      break;
    default:
      return missingCase(e);
  }
  const f = e.frame;
  switch (f.type) {
    case 'watch.ready':
      s.setWatching({ phase: 'watching', counts: f.counts, picture: f.picture, present: f.present, watchersNeeded: f.watchers_needed, control: f.control, grants: f.grants, expiresAt: f.expires_at });
      return;
    case 'presence':
      s.setWatching({ present: f.present, watchersNeeded: f.watchers_needed });
      return;
    case 'control.state':
      s.setWatching({ control: f.control });
      return;
    case 'grants':
      s.setWatching({ grants: f.grants });
      return;
    case 'expiry':
      s.setWatching({ expiresAt: f.expires_at });
      return;
    case 'session.ended':
      s.setWatching({ phase: 'ended', ended: { reason: f.reason, note: f.note ?? null } });
      return;
    case 'error':
      s.setWatching({ message: { kind: 'error', text: f.message } });
      return;
    default:
      return missingCase(f);
  }
}

async function moderate(path: string, body: unknown, done: string | null, schema: typeof ModerationAnswerSchema | typeof NoteAnswerSchema | typeof SessionViewSchema): Promise<boolean> {
  const cur = store().watch.current;
  if (!cur) return false;
  store().setWatching({ busy: true, message: null });
  try {
    const r = await staffBroker().post(`/api/v1/sessions/${cur.sessionId}/moderation/${path}`, body, schema);
    if ('control' in r) store().setWatching({ control: r.control });
    store().setWatching({ busy: false, message: done === null ? null : { kind: 'info', text: done } });
    return true;
  } catch (err) {
    store().setWatching({ busy: false, message: { kind: 'error', text: problem(err) } });
    return false;
  }
}

export function suspendControl(reason: string): Promise<boolean> {
  // The control state shown under Moderate says what happened; no second message for it.
  return moderate('suspend', reason ? { reason } : {}, null, ModerationAnswerSchema);
}

export function resumeControl(): Promise<boolean> {
  return moderate('resume', {}, 'Control is resumed: the analyst can use the mouse and keyboard again while the end user allows it.', ModerationAnswerSchema);
}

export async function sendNote(text: string): Promise<boolean> {
  const cur = store().watch.current;
  const ok = await moderate('note', { text }, 'Note sent to the analyst.', NoteAnswerSchema);
  if (ok && cur) store().setWatching({ message: { kind: 'info', text: `Note sent to ${cur.row.analyst.name}.` } });
  return ok;
}

export function endWatchedSession(reason: string): Promise<boolean> {
  return moderate('end', reason ? { reason } : {}, 'The session was ended. The end user and the analyst were told.', SessionViewSchema);
}
