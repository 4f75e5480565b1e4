import { isGrantable, type GrantableCapability } from '../../../common/capabilities.js';
import type { ControlDraft } from '../../../common/control/protocol.js';
import { SessionEngine } from '../../session/engine.js';
import type { EngineClock, SocketLike } from '../../session/ports.js';
import type { IceServer } from '../broker-client.js';
import { controlPromptTimedOut } from '../format.js';
import { getBridge } from '../services.js';
import { brokerNow, useAppStore } from '../store.js';

/**
 * The live session in the page: one SessionEngine (renderer/session/engine.ts) with the browser's
 * own RTCPeerConnection and WebSocket, a clock on the broker's time, and the device key's proofs
 * from main. Everything the engine says goes into the store; every grant goes through main.
 */

let engine: SessionEngine | null = null;
let stream: MediaStream | null = null;
let remote: MediaStream | null = null;
let promptTimer: ReturnType<typeof setTimeout> | null = null;
const offs: (() => void)[] = [];
const streamListeners = new Set<(s: MediaStream | null) => void>();

const clock: EngineClock = {
  now: () => brokerNow(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

function deps() {
  const bridge = getBridge();
  return {
    socket: (url: string) => new WebSocket(url) as unknown as SocketLike,
    clock,
    sign: (nonce: string, token: string) => bridge.device.nonceProof({ nonce, token }),
    // Main signs its own record of what the teardown revoked.
    signTeardown: (sessionId: string) => bridge.teardown.receipt({ sessionId }),
  };
}

function store() {
  return useAppStore.getState();
}

function newId(): string {
  return globalThis.crypto.randomUUID();
}

/** The analyst's view of the remote screen; the viewer subscribes. */
export function remoteStream(): MediaStream | null {
  return remote;
}

export function onRemoteStream(fn: (s: MediaStream | null) => void): () => void {
  streamListeners.add(fn);
  return () => streamListeners.delete(fn);
}

function setRemote(s: MediaStream | null): void {
  remote = s;
  store().setLive({ hasVideo: s !== null });
  for (const l of streamListeners) l(s);
}

function common(e: SessionEngine): void {
  e.on('state', (state) => store().setLive({ state }));
  e.on('sas', (sas) => store().setLive({ sas }));
  e.on('controlLocked', (controlLocked) => store().setLive({ controlLocked }));
  e.on('warning', (secondsLeft) => {
    const s = store();
    const exp = s.live.expiresAt;
    // The broker decides time: its warning tells us what its clock says now.
    if (exp !== null) s.learnBrokerTime(exp - secondsLeft * 1000, Date.now());
    s.setLive({ warnings: [...s.live.warnings, secondsLeft] });
  });
  e.on('expiresAt', (expiresAt) => {
    const s = store();
    s.setLive({ expiresAt, extensionOffer: null, extensionRequest: null, warnings: [], notice: `The session was extended until ${localTime(expiresAt)}.` });
    const sid = s.live.sessionId;
    if (sid && s.live.role === 'end_user') void getBridge().session.setExpiry({ sessionId: sid, expiresAt }).catch(() => undefined);
  });
  e.on('error', (err) => store().setLive(refusalNotice(err)));
}

/** A broker time as the clock on this computer shows it. */
function localTime(brokerMs: number): string {
  return new Date(brokerMs - store().clockOffsetMs).toLocaleTimeString();
}

/** What to tell the person when the broker refuses something they just did. */
function refusalNotice(err: { code: string; message: string }): Partial<ReturnType<typeof store>['live']> {
  const end = store().live.expiresAt;
  const still = end !== null ? ` The session still ends at ${localTime(end)}.` : '';
  switch (err.code) {
    case 'hard_max':
      return { extensionRequest: null, notice: `No more time can be added: ${err.message}.${still}` };
    case 'extension_pending':
      return { notice: 'A request for more time is already waiting for an answer.' };
    default:
      return { notice: err.message };
  }
}

// ---------------------------------------------------------------- end user

export interface EndUserStart {
  sessionId: string;
  brokerUrl: string;
  token: string;
  expiresAt: number;
  iceServers: IceServer[];
  stream: MediaStream;
}

export function startEndUser(o: EndUserStart): SessionEngine {
  const bridge = getBridge();
  stream = o.stream;
  const e = new SessionEngine(
    {
      role: 'end_user',
      brokerUrl: o.brokerUrl,
      token: o.token,
      expiresAt: o.expiresAt,
      iceServers: o.iceServers,
      stream: o.stream,
      onTeardown: async () => (await bridge.grants.revokeAll({ sessionId: o.sessionId })).revoked,
    },
    deps(),
  );
  engine = e;
  common(e);
  e.on('control', (c) => {
    // Untrusted: main's input gate decides; the page never injects anything itself.
    void bridge.input.deliver({ sessionId: o.sessionId, data: c.data, channel: c.channel }).catch(() => undefined);
  });
  e.on('grantRequest', (r) => {
    const s = store();
    if (s.live.controlRequest) {
      e.respondGrant(r.request_id, false);
      return;
    }
    s.setLive({ controlRequest: { requestId: r.request_id, capability: r.capability, receivedAt: Date.now() } });
    const seconds = s.policy?.controlPromptSeconds ?? 30;
    clearPrompt();
    promptTimer = setTimeout(() => void answerControl(false, 'timeout'), seconds * 1000);
  });
  e.on('grant', (g) => {
    store().setGrant(g.capability, g.granted, g.by);
    // The analyst gave a grant up, or the broker ended it: drop it here too.
    if (!g.granted && isGrantable(g.capability)) void bridge.grants.revoke({ kind: g.capability }).catch(() => undefined);
  });
  e.on('extensionOffer', (x) => store().setLive({ extensionOffer: { extensionId: x.extension_id, minutes: x.minutes, newExpiresAt: x.new_expires_at } }));
  e.on('ended', (r) => finish(r.reason, r.revoked));
  offs.push(
    bridge.on('chat', (m) => {
      if (m.sessionId === o.sessionId) store().addChat({ from: 'them', text: m.text, at: Date.now() });
    }),
    bridge.on('grant.revoked', (g) => {
      // Main dropped a grant (its expiry, or teardown): the page follows, fail closed.
      if (g.kind === 'capture') {
        for (const t of o.stream.getTracks()) t.stop();
        if (g.reason !== 'teardown') void e.tearDown('expired');
        return;
      }
      if (store().live.granted.includes(g.kind) && g.reason === 'expired') e.revokeGrant(g.kind);
      store().setGrant(g.kind, false, g.reason === 'expired' ? 'expiry' : 'end_user');
    }),
    bridge.on('panic', () => void e.stop()),
  );
  // If the person stops sharing from Chromium's own "Stop sharing" bar, the session ends too.
  for (const t of o.stream.getVideoTracks()) t.addEventListener('ended', () => void e.stop());
  store().setLive({ role: 'end_user', sessionId: o.sessionId, state: 'connecting', expiresAt: o.expiresAt, granted: [], revokedDuring: [] });
  e.start();
  return e;
}

function clearPrompt(): void {
  if (promptTimer) clearTimeout(promptTimer);
  promptTimer = null;
}

/** Allow or Deny on the control prompt (or the timeout denying it). */
export async function answerControl(allow: boolean, why: 'click' | 'timeout' = 'click'): Promise<void> {
  const s = store();
  const req = s.live.controlRequest;
  const sid = s.live.sessionId;
  clearPrompt();
  if (!req || !engine || !sid) return;
  s.setLive({ controlRequest: null, notice: why === 'timeout' ? controlPromptTimedOut(s.policy?.controlPromptSeconds ?? 30) : null });
  if (!allow) {
    engine.respondGrant(req.requestId, false);
    return;
  }
  const kind = isGrantable(req.capability) ? req.capability : null;
  const g = kind ? await getBridge().grants.acquire({ sessionId: sid, kind }) : { ok: false as const, reason: 'unknown' };
  engine.respondGrant(req.requestId, g.ok);
  if (!g.ok) s.setLive({ notice: `Control could not be turned on here (${g.reason}).` });
}

/** The end user takes control back: main drops it first, then the broker and the analyst hear. */
export async function takeBack(kind: GrantableCapability): Promise<void> {
  await getBridge().grants.revoke({ kind });
  store().setGrant(kind, false, 'end_user');
  engine?.revokeGrant(kind);
}

export function pauseSharing(paused: boolean): void {
  if (!engine) return;
  if (paused) engine.pauseSharing();
  else engine.resumeSharing();
  store().setLive({ sharingPaused: paused });
}

export async function answerExtension(accept: boolean): Promise<void> {
  const s = store();
  const x = s.live.extensionOffer;
  const sid = s.live.sessionId;
  if (!x || !engine || !sid) return;
  s.setLive({ extensionOffer: null });
  if (!accept) {
    engine.respondExtension(x.extensionId, false);
    const end = s.live.expiresAt;
    s.setLive({ notice: `You said no to more time.${end !== null ? ` The session still ends at ${localTime(end)}.` : ''}` });
    return;
  }
  let receipt: string;
  try {
    receipt = await getBridge().extension.receipt({ sessionId: sid, extensionId: x.extensionId, newExpiresAt: x.newExpiresAt });
  } catch (err) {
    // This machine refuses (its policy caps the length): the answer to the broker is no.
    engine.respondExtension(x.extensionId, false);
    const end = s.live.expiresAt;
    s.setLive({ notice: `More time was not accepted: ${(err as Error).message}${end !== null ? ` The session still ends at ${localTime(end)}.` : ''}` });
    return;
  }
  engine.respondExtension(x.extensionId, true, receipt);
}

// ---------------------------------------------------------------- analyst

export interface AnalystStart {
  sessionId: string;
  brokerUrl: string;
  token: string;
  expiresAt: number;
  iceServers: IceServer[];
}

export function startAnalyst(o: AnalystStart): SessionEngine {
  const e = new SessionEngine({ role: 'analyst', brokerUrl: o.brokerUrl, token: o.token, expiresAt: o.expiresAt, iceServers: o.iceServers }, deps());
  engine = e;
  common(e);
  e.on('stream', (s) => {
    setRemote(s);
    // Paused sharing removes the track (renegotiation); resuming brings a new one and a new 'stream'.
    const gone = () => {
      if (remote === s) store().setLive({ hasVideo: false });
    };
    s.addEventListener('removetrack', gone);
    for (const t of s.getVideoTracks()) {
      t.addEventListener('ended', gone);
      t.addEventListener('mute', gone);
      t.addEventListener('unmute', () => {
        if (remote === s) store().setLive({ hasVideo: true });
      });
    }
  });
  e.on('chat', (text) => store().addChat({ from: 'them', text, at: Date.now() }));
  e.on('extensionPending', (x) =>
    store().setLive({ extensionRequest: { minutes: x.minutes, phase: 'awaiting_approval' }, notice: `Waiting for an approver to allow ${x.minutes} more minutes; the end user is asked after that.` }),
  );
  e.on('extensionResult', (r) => {
    const s = store();
    if (r.accepted) return s.setLive({ extensionRequest: null });
    const end = s.live.expiresAt;
    const still = end !== null ? ` The session still ends at ${localTime(end)}.` : '';
    const who = r.by === 'approver' ? `An approver rejected it${r.reason ? `: “${r.reason}”.` : '.'}` : 'The end user said no.';
    s.setLive({ extensionRequest: null, notice: `More time was not granted. ${who}${still}` });
  });
  e.on('grant', (g) => {
    const s = store();
    s.setGrant(g.capability, g.granted, g.by);
    if (s.live.pendingRequest === g.capability) {
      s.setLive({ pendingRequest: null, notice: g.granted ? null : `The end user did not allow ${g.capability}.` });
    } else if (!g.granted && g.by === 'end_user') {
      s.setLive({ notice: 'The end user took control back.' });
    }
  });
  e.on('ended', (r) => finish(r.reason, r.revoked));
  store().setLive({ role: 'analyst', sessionId: o.sessionId, state: 'connecting', expiresAt: o.expiresAt, granted: [], revokedDuring: [] });
  e.start();
  return e;
}

export function requestControl(): void {
  if (!engine) return;
  store().setLive({ pendingRequest: 'control', notice: null });
  engine.requestGrant('control', newId());
}

/** The analyst gives control up. */
export function releaseControl(): void {
  engine?.revokeGrant('control');
}

export function requestExtension(minutes: number): void {
  if (!engine) return;
  store().setLive({ extensionRequest: { minutes, phase: 'asked' }, notice: `Asked for ${minutes} more minutes; the end user has to agree.` });
  engine.requestExtension(minutes, newId());
}

export function sendInput(msg: ControlDraft): boolean {
  return engine?.sendControl(msg) ?? false;
}

// ---------------------------------------------------------------- both

export function sendChat(text: string): boolean {
  const ok = engine?.sendChat(text) ?? false;
  if (ok) store().addChat({ from: 'me', text, at: Date.now() });
  return ok;
}

/** Stop (end user) or End (analyst): ends it for both sides. */
export async function stopSession(): Promise<void> {
  await engine?.stop();
}

function finish(reason: string, revoked: string[]): void {
  clearPrompt();
  for (const off of offs.splice(0)) off();
  if (stream) for (const t of stream.getTracks()) t.stop();
  stream = null;
  setRemote(null);
  engine = null;
  store().setLive({ state: 'ended', controlRequest: null, granted: [], pendingRequest: null, notice: null, extensionOffer: null, extensionRequest: null, ended: { reason, revoked, at: Date.now() } });
  if (store().live.role === 'end_user') store().setJoin({ phase: 'ended' });
}

/** For tests and the end screen: forget the engine without touching the store. */
export function hasEngine(): boolean {
  return engine !== null;
}
