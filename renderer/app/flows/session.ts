// The design card's WebRTC shim, once, before anything touches the browser's RTCPeerConnection:
// it normalises getStats, ICE candidate and track shapes across the Chromium versions Electron ships.
import 'webrtc-adapter';
import { isGrantable, type GrantableCapability } from '../../../common/capabilities.js';
import type { GrantDirection } from '../../../common/grant-direction.js';
import type { ControlDraft } from '../../../common/control/protocol.js';
import { isControlRefusal, refusalForAnalyst, refusalForEndUser, WINDOWS_UIPI_NOTE } from '../../../common/control/refusals.js';
import { DEFAULT_QUALITY, type QualityPreset } from '../../../common/control/quality.js';
import { SessionEngine, type EngineEvents } from '../../session/engine.js';
import type { StatsEntry } from '../../session/sender-settings.js';
import type { SessionRecorder } from '../../session/recorder.js';
import type { EngineClock, SocketLike } from '../../session/ports.js';
import type { IceServer } from '../broker-client.js';
import { GRANT_NAMES, RECORDING_STALLED_ANALYST, RECORDING_STALLED_END_USER, controlPromptTimedOut } from '../format.js';
import { linkEngineToMain } from './main-link.js';
import { attachClipboard, detachClipboard } from './clipboard.js';
import { attachFiles, detachFiles } from './files.js';
import { endUserBroker, getBridge, staffBroker } from '../services.js';
import { SessionViewSchema, TeardownRecordedSchema } from '../../../common/protocol/responses.js';
import type { EndReason } from '../../../common/session-state.js';
import { brokerNow, useAppStore, type ShownDisplayView } from '../store.js';

/**
 * The live session in the page: one SessionEngine (renderer/session/engine.ts) with the browser's
 * own RTCPeerConnection and WebSocket, a clock on the broker's time, and the device key's proofs
 * from main. Everything the engine says goes into the store; every grant goes through main.
 */

let engine: SessionEngine | null = null;
let stream: MediaStream | null = null;
let remote: MediaStream | null = null;
let recorder: SessionRecorder | null = null;
/** The end user's transcript upload (main sends what its input gate recorded), while recorded. */
let flushTranscript: (() => Promise<void>) | null = null;
let transcriptTimer: ReturnType<typeof setInterval> | null = null;
const TRANSCRIPT_FLUSH_MS = 5000;
let promptTimer: ReturnType<typeof setTimeout> | null = null;
/** End user: requests this person allowed, by id, with the capability and direction the prompt showed. */
const allowed = new Map<string, { kind: GrantableCapability; direction: GrantDirection | null }>();
/** Analyst: the id of the request waiting for an answer. */
let pendingRequestId: string | null = null;
const offs: (() => void)[] = [];
/** The kill switch's words for the session ending now, shown on the end screen. */
let endNote: string | null = null;
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
  e.on('presence', (p) => store().setLive({ present: p.present, watchersNeeded: p.watchersNeeded }));
  e.on('controlState', (control) => store().setLive({ control }));
  e.on('note', (n) => {
    const s = store();
    s.setLive({ notes: [...s.live.notes, n].slice(-20) });
  });
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
    case 'watchers_required':
    case 'control_suspended':
      // The viewer says why from the presence and control frames; the request is not pending.
      return { pendingRequest: null, notice: null };
    case 'step_up_required':
      // The viewer asks for a fresh second factor, then asks again for the same (screens/step-up.ts).
      return { pendingRequest: null, notice: null, stepUp: { capability: lastAsked?.capability ?? 'control', message: err.message } };
    default:
      return { notice: err.message };
  }
}

// ---------------------------------------------------------------- end user

/** Who is on the other side and what the session is for, as the offer (end user) or the request (analyst) said. */
export interface LivePeer {
  peerName: string | null;
  peerOrg: string | null;
  ticket: string | null;
  capabilities: string[];
}

export interface EndUserStart extends LivePeer {
  sessionId: string;
  brokerUrl: string;
  token: string;
  expiresAt: number;
  iceServers: IceServer[];
  stream: MediaStream;
  /** Already running on the shared track (flows/recording.ts), or null when the session is not recorded. */
  recorder: SessionRecorder | null;
}

export function startEndUser(o: EndUserStart): SessionEngine {
  const bridge = getBridge();
  stream = o.stream;
  recorder = o.recorder;
  const e = new SessionEngine(
    {
      role: 'end_user',
      brokerUrl: o.brokerUrl,
      token: o.token,
      expiresAt: o.expiresAt,
      iceServers: o.iceServers,
      stream: o.stream,
      onTeardown: async () => (await bridge.grants.revokeAll({ sessionId: o.sessionId })).revoked,
      // Main signs with the device key; signaling carries it, or HTTP when signaling is gone.
      teardownReport: {
        sign: (revoked) => bridge.session.teardownReceipt({ sessionId: o.sessionId, revoked }),
        overHttp: async ({ revoked, receipt }) => {
          await endUserBroker().post('/api/v1/join/teardown-report', { session_id: o.sessionId, revoked, after_crash: false, receipt }, TeardownRecordedSchema);
        },
      },
    },
    deps(),
  );
  engine = e;
  common(e);
  attachFiles(e, o.sessionId);
  attachClipboard(e, o.sessionId);
  if ((store().join.offerView?.recording ?? 'off') !== 'off') {
    flushTranscript = () => bridge.recording.transcriptFlush({ sessionId: o.sessionId, token: o.token }).then(() => undefined, () => undefined);
    transcriptTimer = setInterval(() => void flushTranscript?.(), TRANSCRIPT_FLUSH_MS);
  }
  // Untrusted input goes to main's gate, which decides; an interruption locks the gate itself.
  linkEngineToMain(e, bridge, o.sessionId);
  e.on('grantRequest', (r) => {
    const s = store();
    // A capability this build cannot grant, or a second prompt over the first: no.
    if (!isGrantable(r.capability)) return;
    if (s.live.controlRequest) {
      e.respondGrant(r.request_id, r.capability, false, undefined, r.direction ?? undefined);
      return;
    }
    s.setLive({ controlRequest: { requestId: r.request_id, capability: r.capability, direction: r.direction, receivedAt: Date.now(), mfaAt: r.mfa_at !== null ? r.mfa_at * 1000 : null } });
    const seconds = s.policy?.controlPromptSeconds ?? 30;
    clearPrompt();
    promptTimer = setTimeout(() => promptTimedOut(r.request_id), seconds * 1000);
  });
  e.on('grant', (g) => void onGrantChanged(e, o.sessionId, g));
  e.on('extensionOffer', (x) => store().setLive({ extensionOffer: { extensionId: x.extension_id, minutes: x.minutes, newExpiresAt: x.new_expires_at } }));
  e.on('endNote', (note) => (endNote = note));
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
  store().beginLive({ role: 'end_user', sessionId: o.sessionId, state: 'connecting', expiresAt: o.expiresAt, peerName: o.peerName, peerOrg: o.peerOrg, ticket: o.ticket, capabilities: o.capabilities });
  e.start();
  return e;
}

/** Grants changed on the end user's side while the live one was being turned on: turn it off again. */
const grantEpoch = new Map<string, number>();

/**
 * The end user's side of grant.changed, the one source of grant state. Control is switched on in
 * main only for a request this person allowed, with the capability the prompt showed, and only
 * once the broker has recorded it; anything else the broker claims is refused here (fail closed).
 */
async function onGrantChanged(e: SessionEngine, sessionId: string, g: EngineEvents['grant']): Promise<void> {
  const bridge = getBridge();
  const s = store();
  if (!isGrantable(g.capability)) return;
  const kind = g.capability;
  if (g.requestId && s.live.controlRequest?.requestId === g.requestId) {
    // Decided while the prompt was still open (the broker's timeout): the prompt goes.
    clearPrompt();
    s.setLive({ controlRequest: null });
  }
  if (!g.granted) {
    if (g.requestId) allowed.delete(g.requestId);
    grantEpoch.set(kind, (grantEpoch.get(kind) ?? 0) + 1);
    if (g.reason === 'timeout') s.setLive({ notice: controlPromptTimedOut(s.policy?.controlPromptSeconds ?? 30) });
    if (g.reason === 'recording_stalled') s.setLive({ notice: RECORDING_STALLED_END_USER });
    s.setGrant(kind, false, g.by);
    // The analyst gave a grant up, or the broker ended it: drop it here too.
    void bridge.grants.revoke({ kind }).catch(() => undefined);
    return;
  }
  const shown = g.requestId ? allowed.get(g.requestId) : undefined;
  if (g.requestId) allowed.delete(g.requestId);
  // The broker's word must match what this person saw: the capability and, for clipboard and files, the direction.
  if (shown?.kind !== kind || shown.direction !== g.direction) {
    e.revokeGrant(kind);
    s.setLive({ notice: `The broker reported ${GRANT_NAMES[kind] ?? kind} that you did not allow; it stays off.` });
    return;
  }
  const epoch = grantEpoch.get(kind) ?? 0;
  const direction = shown.direction ?? undefined;
  const r = await bridge.grants.acquire({ sessionId, kind, ...(direction ? { direction } : {}) }).catch((err: unknown) => ({ ok: false as const, reason: (err as Error).message }));
  if (!r.ok) {
    e.revokeGrant(kind);
    store().setLive({ notice: isControlRefusal(r.reason) ? refusalForEndUser(r.reason) : `${capitalised(GRANT_NAMES[kind] ?? kind)} could not be turned on here (${r.reason}).` });
    return;
  }
  if ((grantEpoch.get(kind) ?? 0) !== epoch) {
    // Taken back (or ended by the broker) while main was switching it on: it goes again.
    void bridge.grants.revoke({ kind }).catch(() => undefined);
    return;
  }
  store().setGrant(kind, true, g.by, shown.direction);
  if (kind === 'control') e.announceControlLive();
}

function capitalised(t: string): string {
  return t.charAt(0).toUpperCase() + t.slice(1);
}

/**
 * Nobody answered in the prompt's time: the prompt closes (no late Allow) and the broker, which
 * times the request out 2 s later, tells both sides (grant.changed reason "timeout").
 */
function promptTimedOut(requestId: string): void {
  const s = store();
  if (s.live.controlRequest?.requestId !== requestId) return;
  clearPrompt();
  s.setLive({ controlRequest: null, notice: controlPromptTimedOut(s.policy?.controlPromptSeconds ?? 30) });
}

function clearPrompt(): void {
  if (promptTimer) clearTimeout(promptTimer);
  promptTimer = null;
}

/**
 * Allow or Deny on the control prompt. Allow answers the broker with the capability shown and
 * switches nothing on yet: that happens when the broker's grant.changed confirms this very request.
 */
export function answerControl(allow: boolean): void {
  const s = store();
  const req = s.live.controlRequest;
  // The first control of a session is given only together with the code check (confirmCodeAndAllow).
  if (allow && needsCodeCheck(req?.capability ?? '')) return;
  clearPrompt();
  if (!req || !engine || !isGrantable(req.capability)) return;
  s.setLive({ controlRequest: null, notice: null });
  if (!allow) {
    engine.respondGrant(req.requestId, req.capability, false, undefined, req.direction ?? undefined);
    return;
  }
  void allowIfThisMachineCan(engine, req.requestId, req.capability, req.direction ?? null);
}

/**
 * The end user said yes; this machine may still be unable to do it (Wayland, a macOS permission).
 * Main is asked first, so the analyst hears the machine's own reason with the answer; nothing is
 * switched on until the broker's grant.changed confirms the request.
 */
async function allowIfThisMachineCan(e: SessionEngine, requestId: string, capability: GrantableCapability, direction: GrantDirection | null): Promise<void> {
  const s = store();
  const sessionId = s.live.sessionId;
  const dir = direction ? { direction } : {};
  const c = sessionId ? await getBridge().grants.check({ sessionId, kind: capability, ...dir }).catch((err: unknown) => ({ ok: false as const, reason: (err as Error).message })) : { ok: false as const, reason: 'unknown_session' };
  if (!c.ok) {
    const refusal = isControlRefusal(c.reason) ? c.reason : undefined;
    e.respondGrant(requestId, capability, false, refusal, direction ?? undefined);
    s.setLive({ notice: refusal ? refusalForEndUser(refusal) : c.reason === 'denied_by_policy' ? `This computer's policy does not allow ${GRANT_NAMES[capability] ?? capability}; it stays off.` : `${capitalised(GRANT_NAMES[capability] ?? capability)} could not be turned on here (${c.reason}).` });
    return;
  }
  allowed.set(requestId, { kind: capability, direction });
  e.respondGrant(requestId, capability, true, undefined, direction ?? undefined);
  if (capability === 'control' && /Windows/.test(globalThis.navigator?.userAgent ?? '')) s.setLive({ notice: WINDOWS_UIPI_NOTE });
}

/** Whether this request must be answered with the code check first: control, not yet confirmed. */
export function needsCodeCheck(capability: string): boolean {
  return capability === 'control' && !store().live.sasConfirmed;
}

/** "Yes, the same code": the codes were compared aloud; control is allowed with it. */
export function confirmCodeAndAllow(): void {
  const s = store();
  if (!s.live.sas || !s.live.controlRequest) return;
  s.setLive({ sasConfirmed: true });
  answerControl(true);
}

/** "No, a different code": someone may sit between the two; the session ends for both at once. */
export async function codesDiffer(): Promise<void> {
  clearPrompt();
  store().setLive({ controlRequest: null });
  await engine?.rejectCode();
}

/** The end user takes control back: main drops it first, then the broker and the analyst hear. */
export async function takeBack(kind: GrantableCapability): Promise<void> {
  await getBridge().grants.revoke({ kind });
  store().setGrant(kind, false, 'end_user');
  engine?.revokeGrant(kind);
}

/**
 * End user: the display shared from now on goes out in place of the one before (replaceTrack: no
 * new consent, no renegotiation), the recording follows it, and the analyst is told which it is.
 */
export async function shareDisplay(track: MediaStreamTrack, shown: ShownDisplayView | null): Promise<boolean> {
  const e = engine;
  if (!e || store().live.state === 'ended') return false;
  await e.replaceScreen(track);
  // As with the first screen: the end user stopping it from the browser's own bar ends the session.
  track.addEventListener('ended', () => void e.stop());
  recorder?.follow(track);
  announceDisplay(shown);
  return true;
}

/** End user: which display the analyst sees, in the banner and on their side. */
export function announceDisplay(shown: ShownDisplayView | null): void {
  store().setLive({ display: shown });
  if (shown) engine?.announceDisplay({ index: shown.index, count: shown.count, width: shown.width, height: shown.height });
}

/** Pause or resume sending the screen; the banner says so once it is really so. */
export async function pauseSharing(paused: boolean): Promise<void> {
  if (!engine) return;
  const done = await (paused ? engine.pauseSharing() : engine.resumeSharing()).catch(() => false);
  if (done) store().setLive({ sharingPaused: paused });
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

export interface AnalystStart extends LivePeer {
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
  attachFiles(e, o.sessionId);
  attachClipboard(e, o.sessionId);
  // The end user paused or resumed: the viewer says so rather than showing a frozen frame.
  e.on('share', (x) => store().setLive({ sharingPaused: x.paused }));
  e.on('display', (d) => store().setLive({ display: { id: null, ...d } }));
  e.on('stream', (s) => {
    setRemote(s);
    // A track that stops delivering (mute) or goes shows as no picture until it comes back.
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
    const who = r.by === 'approver' ? `${r.approverName ?? 'An approver'} rejected it${r.reason ? `: “${r.reason}”.` : '.'}` : 'The end user said no.';
    s.setLive({ extensionRequest: null, notice: `More time was not granted. ${who}${still}` });
  });
  e.on('grant', (g) => {
    const s = store();
    s.setGrant(g.capability, g.granted, g.by, g.direction);
    const answersMine = s.live.pendingRequest === g.capability && (g.requestId === null || g.requestId === pendingRequestId);
    if (answersMine) {
      pendingRequestId = null;
      const why =
        g.reason === 'timeout'
          ? `The end user did not answer in time, so ${g.capability} was not allowed.`
          : g.reason === 'recording_stalled'
            ? RECORDING_STALLED_ANALYST
            : g.reason
              ? refusalForAnalyst(g.reason)
              : `The end user did not allow ${g.capability}.`;
      s.setLive({ pendingRequest: null, notice: g.granted ? null : why });
    } else if (!g.granted && g.reason === 'recording_stalled') {
      s.setLive({ notice: RECORDING_STALLED_ANALYST });
    } else if (!g.granted && g.by === 'end_user') {
      s.setLive({ notice: g.capability === 'control' ? 'The end user took control back.' : `The end user switched ${GRANT_NAMES[g.capability] ?? g.capability} off.` });
    }
  });
  e.on('controlLive', () => store().setLive({ controlLive: true }));
  e.on('endNote', (note) => (endNote = note));
  e.on('ended', (r) => {
    if (r.reason !== 'peer_lost') return finish(r.reason, r.revoked);
    // peer_lost is this side's guess (its socket closed or was refused without a reason, for
    // example the session ended before it connected): the broker's record says what ended it.
    void endedAtBroker(o.sessionId).then((why) => {
      if (engine === e) finish(why ?? r.reason, r.revoked);
    });
  });
  store().beginLive({ role: 'analyst', sessionId: o.sessionId, state: 'connecting', expiresAt: o.expiresAt, peerName: o.peerName, peerOrg: o.peerOrg, ticket: o.ticket, capabilities: o.capabilities });
  e.start();
  return e;
}

export function requestControl(): void {
  requestCapability('control');
}

/** What the analyst asked for last: asked again as it was once a step-up refusal is answered. */
let lastAsked: { capability: GrantableCapability; direction: GrantDirection | undefined } | null = null;

/** After a fresh second factor: the request the broker refused for a stale one, again. */
export function askAgainAfterStepUp(): void {
  if (lastAsked) requestCapability(lastAsked.capability, lastAsked.direction);
  else requestControl();
}

/** The analyst asks for a grant; clipboard and files say which way data may go. */
export function requestCapability(capability: GrantableCapability, direction?: GrantDirection): void {
  if (!engine) return;
  lastAsked = { capability, direction };
  pendingRequestId = newId();
  store().setLive({ pendingRequest: capability, notice: null });
  engine.requestGrant(capability, pendingRequestId, direction);
}

/** The analyst gives a grant up. */
export function releaseGrant(capability: GrantableCapability): void {
  engine?.revokeGrant(capability);
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

/** The viewer's quality menu: the end user's side applies the preset to what it sends. */
export function chooseQuality(preset: QualityPreset): boolean {
  return engine?.setQuality(preset) ?? false;
}

export function currentQuality(): QualityPreset {
  return engine?.quality ?? DEFAULT_QUALITY;
}

/** The connection's statistics now, for the viewer's readout (null without a connection). */
export function liveStats(): Promise<Map<string, StatsEntry> | null> {
  return engine?.stats() ?? Promise.resolve(null);
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

/**
 * A best-effort recorder that started after the session did (renderer/app/flows/join.ts). A
 * session that has ended meanwhile, or another one, does not take it: it is stopped.
 */
export function attachRecorder(sessionId: string, rec: SessionRecorder): void {
  const live = store().live;
  if (!engine || recorder || live.role !== 'end_user' || live.sessionId !== sessionId || live.state === 'ended') {
    void rec.stop();
    return;
  }
  recorder = rec;
}

/** Stop (end user) or End (analyst): ends it for both sides. */
export async function stopSession(): Promise<void> {
  // The end user's Stop: the last chunk goes to the broker while the session still takes it.
  if (engine) await Promise.race([Promise.all([recorder?.stop(), flushTranscript?.()]), new Promise((r) => setTimeout(r, 5000))]);
  await engine?.stop();
}

function finish(reason: string, revoked: string[]): void {
  const note = endNote;
  endNote = null;
  clearPrompt();
  allowed.clear();
  grantEpoch.clear();
  pendingRequestId = null;
  for (const off of offs.splice(0)) off();
  detachFiles();
  detachClipboard();
  void recorder?.stop();
  recorder = null;
  if (transcriptTimer) clearInterval(transcriptTimer);
  transcriptTimer = null;
  flushTranscript = null;
  if (stream) for (const t of stream.getTracks()) t.stop();
  stream = null;
  setRemote(null);
  engine = null;
  store().setLive({ state: 'ended', controlRequest: null, granted: [], pendingRequest: null, notice: null, extensionOffer: null, extensionRequest: null, ended: { reason, revoked, at: Date.now(), note } });
  if (store().live.role === 'end_user') store().setJoin({ phase: 'ended' });
}

/** For tests and the end screen: forget the engine without touching the store. */
export function hasEngine(): boolean {
  return engine !== null;
}

/** The end reason the broker recorded for this session, or null while it has none (or cannot say). */
async function endedAtBroker(sessionId: string): Promise<EndReason | null> {
  try {
    const v = await staffBroker().get(`/api/v1/sessions/${encodeURIComponent(sessionId)}`, SessionViewSchema);
    return v.state === 'ended' ? v.end_reason : null;
  } catch {
    return null;
  }
}
