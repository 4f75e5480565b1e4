import type { ClipboardSyncType } from '../../common/clipboard/protocol.js';
import SimplePeer from 'simple-peer';
import type { GrantableCapability } from '../../common/capabilities.js';
import { CONTROL_CHANNELS, MAX_CHAT_CHARS, decodeControl, decodeSessionMessage, type ControlDraft, type SessionMessage } from '../../common/control/protocol.js';
import type { ControlRefusal, GrantChangeReason } from '../../common/control/refusals.js';
import type { GrantDirection } from '../../common/grant-direction.js';
import { CLIPBOARD_CHANNEL } from '../../common/clipboard/protocol.js';
import { FILE_CHANNEL } from '../../common/files/protocol.js';
import { missingCase } from '../../common/missing-case.js';
import { END_FRAME_REASONS, LOCAL_GRANTS, type BrokerFrame, type ClientFrame, type SignalPayload } from '../../common/protocol/signaling.js';
import type { SessionRole } from '../../common/roles.js';
import type { EndReason } from '../../common/session-state.js';
import { Emitter } from './emitter.js';
import { fromPeerSignal, sdpCandidateTransform, toPeerSignal, type CandidateFilter } from './peer-signals.js';
import type { ControlState, PresenceEntry } from '../../common/protocol/watch.js';
import type { EngineClock, NonceSigner, SocketFactory, TeardownSigner, WebRtcImpl } from './ports.js';
import { DEFAULT_QUALITY, type QualityPreset } from '../../common/control/quality.js';
import { IceRestarter } from './ice-restart.js';
import { applySenderSettings, preferScreenCodecs, selectedPath, statsMap, type StatsEntry } from './sender-settings.js';
import { SharedScreen } from './shared-screen.js';
import { SignalingLink, type LinkEvent } from './signaling-link.js';
import { Verification, type VerificationStep } from './verification.js';

export type EngineState = 'connecting' | 'waiting_peer' | 'connected' | 'interrupted' | 'ended';

export interface EngineOptions {
  role: SessionRole;
  brokerUrl: string;
  token: string;
  expiresAt: number;
  iceServers: { urls: string | string[]; username?: string; credential?: string }[];
  iceTransportPolicy?: 'all' | 'relay';
  /** The end user's shared screen. */
  stream?: MediaStream;
  /** How long ICE or signaling may stay lost before the session ends as peer_lost. */
  graceMs?: number;
  candidateFilter?: CandidateFilter;
  /** Revokes every local grant; returns what it revoked. Runs first in teardown. */
  onTeardown?: (reason: EndReason) => Promise<string[]> | string[];
  /** End user: how the teardown report is signed (by main, with the device key) and sent when signaling is gone. */
  teardownReport?: TeardownReporter;
}

export type LocalGrant = (typeof LOCAL_GRANTS)[number];

/**
 * The end user's report of what it revoked, on every way a session ends: signed by the device key
 * (never held by the page), sent on signaling while the socket is open (the broker waits for it
 * after the end) and over HTTP otherwise.
 */
export interface TeardownReporter {
  sign(revoked: LocalGrant[]): Promise<string>;
  overHttp(report: { revoked: LocalGrant[]; receipt: string }): Promise<void>;
}

export interface EngineDeps {
  wrtc?: WebRtcImpl;
  socket: SocketFactory;
  clock: EngineClock;
  sign: NonceSigner;
  /**
   * End user: the signed teardown report for what teardown revoked (the device key signs it; the
   * signer may sign its own record of what was revoked and returns the list it signed).
   */
  signTeardown?: TeardownSigner;
}

export interface EngineEvents extends Record<string, unknown> {
  state: EngineState;
  sas: string;
  stream: MediaStream;
  /** End user side: one raw data-channel message for the input gate (untrusted). */
  control: { data: string; channel: keyof typeof CONTROL_CHANNELS };
  grantRequest: { request_id: string; capability: string; mfa_at: number | null; direction: GrantDirection | null };
  /** Analyst side: the end user paused or resumed sending the screen. */
  share: { paused: boolean };
  /** Analyst side: a chat message from the end user (the end user's side gets chat through the gate). */
  chat: string;
  /** The broker's grant.changed: the only source of grant state on either side. */
  grant: { capability: string; granted: boolean; by: string; requestId: string | null; reason: GrantChangeReason | null; direction: GrantDirection | null };
  controlLocked: boolean;
  warning: number;
  extensionOffer: { extension_id: string; minutes: number; new_expires_at: number };
  /** Analyst side: the request for more time waits for an approver first. */
  extensionPending: { extension_id: string; minutes: number };
  /** Either side: the broker's decision on a request for more time (refused ones too). */
  extensionResult: { extension_id: string; accepted: boolean; expires_at: number; by: 'approver' | 'end_user'; reason: string | null; approverName: string | null };
  expiresAt: number;
  error: { code: string; message: string };
  ended: { reason: EndReason; revoked: string[] };
  /** The kill switch's reason, as the broker passed it on with the end (before `ended`). */
  endNote: string;
  /** A message on the files channel (untrusted): text steers a transfer, bytes belong to the one in flight. */
  file: string | ArrayBuffer;
  /** The files channel opened (transfers may start). */
  filesOpen: RTCDataChannel;
  /** A message on the clipboard channel (untrusted text, common/clipboard/protocol.ts). */
  clipboard: string;
  /** Either side: the quality preset in force (end user: applied to the sender; analyst: asked for). */
  quality: QualityPreset;
  /** Analyst side: which of the end user's displays the picture shows. */
  display: ShownDisplay;
  /** Analyst: the end user's computer takes input now (its control-live message). */
  controlLive: boolean;
  /** Either side: everyone present (analyst and watchers) and how many more watchers policy needs. */
  presence: { present: PresenceEntry[]; watchersNeeded: number };
  /** Either side: control suspended or resumed by a watcher or the watcher requirement. */
  controlState: ControlState;
  /** Analyst side: a watcher's note. */
  note: { from: string; text: string; at: number };
}

/** "Display 2 of 2, 1280×720": which of the end user's displays is shared, and its size. */
export interface ShownDisplay {
  index: number;
  count: number;
  width: number;
  height: number;
}

const POINTER_CHANNEL_ID = 1000;
const DEFAULT_GRACE_MS = 10_000;
/** How long to wait for the broker's reason after the peer connection closed under us. */
const PEER_CLOSED_SETTLE_MS = 2000;

/**
 * Both ends of a live session: signaling, the peer connection (simple-peer), the two data
 * channels, the short authentication string (verification.ts), and a teardown that runs once, completely, on every
 * way a session can end, including when the broker cannot be reached (local expiry fails closed).
 */
export class SessionEngine extends Emitter<EngineEvents> {
  state: EngineState = 'connecting';
  sas: string | null = null;
  /** Remote ICE candidates that could not be applied: dropped, never the end of the session. */
  candidatesDropped = 0;

  /** ICE restarts this side has made (the offerer's; the answerer's stays 0). */
  get iceRestarts(): number {
    return this.restarter?.restarts ?? 0;
  }
  /** Why the verification code failed, when it did (the session then ended as verification_failed). */
  verificationFailure: string | null = null;
  private readonly verification: Verification;
  private pc: RTCPeerConnection | null = null;
  private link: SignalingLink;
  private peer: SimplePeer.Instance | null = null;
  private restarter: IceRestarter | null = null;
  private pointer: RTCDataChannel | null = null;
  private files: RTCDataChannel | null = null;
  private clip: RTCDataChannel | null = null;
  private seq = 0;
  private expiryTimer: unknown = null;
  private graceTimer: unknown = null;
  private teardown: Promise<{ reason: EndReason; revoked: string[] }> | null = null;
  private token: string;
  private expiresAt: number;
  private readonly grace: number;
  private readonly screen: SharedScreen | null;
  private peerDead = false;
  /** The session this engine runs, from the broker's `ready`. */
  private sessionId: string | null = null;
  /** What each grant request asked for: the answer names it, so the broker can check it against what was shown. */
  private readonly asked = new Map<string, string>();
  /** The analyst's last choice from the quality menu (common/control/quality.ts). */
  quality: QualityPreset = DEFAULT_QUALITY;
  /** End user: the display last announced, sent again when the peer connection comes back. */
  private shownDisplay: ShownDisplay | null = null;

  constructor(
    private readonly opts: EngineOptions,
    private readonly deps: EngineDeps,
  ) {
    super();
    this.token = opts.token;
    this.expiresAt = opts.expiresAt;
    this.grace = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.screen = opts.stream ? new SharedScreen(opts.stream) : null;
    this.verification = new Verification(opts.role);
    const wsUrl = `${opts.brokerUrl.replace(/^http/, 'ws')}/api/v1/signaling`;
    this.link = new SignalingLink(wsUrl, this.token, deps.sign, deps.socket, deps.clock, (e) => this.onLink(e));
  }

  get role(): SessionRole {
    return this.opts.role;
  }

  start(): void {
    this.armExpiry();
    // The commitment is ready before the first frame, so it can be the first signal we send.
    void this.verification.prepare().then(() => {
      if (this.state !== 'ended') this.link.start();
    });
  }

  // ---------- analyst actions ----------

  sendControl(msg: ControlDraft): boolean {
    if (this.opts.role !== 'analyst' || this.state !== 'connected') return false;
    const full = JSON.stringify({ ...msg, seq: this.seq++ });
    if (msg.t === 'move') {
      if (this.pointer?.readyState !== 'open') return false;
      this.pointer.send(full);
      return true;
    }
    return this.sendReliable(full);
  }

  sendChat(text: string): boolean {
    if (text.length === 0 || text.length > MAX_CHAT_CHARS) return false;
    return this.sendReliable(JSON.stringify({ t: 'chat', seq: this.seq++, text }));
  }

  /** `direction`: required for clipboard and files (common/grant-direction.ts), absent for control. */
  requestGrant(capability: GrantableCapability, requestId: string, direction?: GrantDirection): void {
    this.link.send({ type: 'grant.request', request_id: requestId, capability, ...(direction ? { direction } : {}) });
  }

  requestExtension(minutes: number, requestId: string): void {
    this.link.send({ type: 'extend.request', request_id: requestId, minutes });
  }

  /** Analyst: asks the end user's side for another quality preset; it applies it to its sender. */
  setQuality(preset: QualityPreset): boolean {
    if (this.opts.role !== 'analyst') return false;
    const ok = this.sendSession(JSON.stringify({ t: 'quality', seq: this.seq++, preset }));
    if (ok) {
      this.quality = preset;
      this.emit('quality', preset);
    }
    return ok;
  }

  /** The live connection's statistics (the viewer's readout), or null before there is one. */
  async stats(): Promise<Map<string, StatsEntry> | null> {
    return this.pc ? statsMap(this.pc) : null;
  }

  // ---------- end user actions ----------

  /**
   * The end user's answer names the capability the prompt showed; the broker checks it against the
   * request. `reason`: this machine refused although the end user allowed; the analyst is told why.
   */
  respondGrant(requestId: string, capability: GrantableCapability, allow: boolean, reason?: ControlRefusal, direction?: GrantDirection): void {
    this.link.send({ type: 'grant.response', request_id: requestId, capability, ...(direction ? { direction } : {}), allow, ...(reason ? { reason } : {}) });
  }

  /** The end user's machine records a file transfer's decision or end with the broker (name, size, hash; never content). */
  recordTransfer(r: Omit<Extract<ClientFrame, { type: 'transfer.record' }>, 'type'>): boolean {
    return this.link.send({ type: 'transfer.record', ...r });
  }

  /** The end user's machine records one clipboard text synced: which way and how long, never the text. */
  recordClipboard(direction: 'to_end_user' | 'from_end_user', length: number, kind: ClipboardSyncType = 'text'): boolean {
    return this.link.send({ type: 'clipboard.record', direction, length, ...(kind === 'text' ? {} : { kind }) });
  }

  revokeGrant(capability: GrantableCapability): void {
    this.link.send({ type: 'grant.revoke', capability });
  }

  respondExtension(extensionId: string, accept: boolean, receipt?: string): void {
    this.link.send({ type: 'extend.response', extension_id: extensionId, accept, ...(receipt ? { receipt } : {}) });
  }

  /**
   * Stops sending the screen without renegotiating (the sender's track goes, the section stays)
   * and tells the analyst, whose viewer then says so; resume sends the same capture again.
   */
  async pauseSharing(): Promise<boolean> {
    if (!this.pc || !this.screen) return false;
    await this.screen.pause(this.pc);
    this.sendSession(JSON.stringify({ t: 'share', seq: this.seq++, paused: true }));
    return true;
  }

  async resumeSharing(): Promise<boolean> {
    if (!this.pc || !this.screen) return false;
    await this.screen.resume(this.pc);
    await this.applyQuality();
    this.sendSession(JSON.stringify({ t: 'share', seq: this.seq++, paused: false }));
    return true;
  }

  /** The shared screen changed (another display, another window): swap the track in place. */
  async replaceScreen(track: MediaStreamTrack): Promise<void> {
    if (this.pc) await this.screen?.replace(this.pc, track);
    await this.applyQuality();
  }

  /**
   * End user: main's gate has switched control on. The analyst's viewer says "You have control"
   * (and sends input) only from here: the broker's grant.changed reaches the analyst before this
   * computer has switched anything on, and keys typed in between would be refused by the gate.
   */
  announceControlLive(): void {
    this.sendSession(JSON.stringify({ t: 'control-live', seq: this.seq++ }));
  }

  /** End user: tells the analyst which display is shown (again after every reconnection). */
  announceDisplay(d: ShownDisplay): void {
    this.shownDisplay = { ...d };
    this.sendSession(JSON.stringify({ t: 'display', seq: this.seq++, ...d }));
  }

  /** End user: the current preset on the sender, with the bitrate policy for the path in use. */
  private async applyQuality(): Promise<void> {
    const track = this.screen?.stream.getVideoTracks()[0];
    if (!this.pc || !track || this.screen?.isPaused) return;
    const path = (await selectedPath(this.pc).catch(() => null)) ?? 'direct';
    await applySenderSettings(this.pc, track, this.quality, path);
  }

  // ---------- both ----------

  /** The files channel while it is open, and the largest message the peer takes (RTCSctpTransport.maxMessageSize). */
  filesChannel(): { channel: RTCDataChannel; maxMessageSize: number | null } | null {
    if (this.files?.readyState !== 'open' || this.state === 'ended') return null;
    return { channel: this.files, maxMessageSize: this.pc?.sctp?.maxMessageSize ?? null };
  }

  /** Sends one clipboard message; false when the channel is not open. */
  sendClipboard(data: string): boolean {
    if (this.clip?.readyState !== 'open' || this.state === 'ended') return false;
    this.clip.send(data);
    return true;
  }

  /** The end user read a different code from the analyst's: someone may sit in between. */
  rejectCode(): Promise<{ reason: EndReason; revoked: string[] }> {
    this.verificationFailure = 'the two people read different codes';
    return this.tearDown('verification_failed', true);
  }

  /** Stop pressed (or the panic chord): ends the session for both sides. */
  stop(): Promise<{ reason: EndReason; revoked: string[] }> {
    return this.tearDown(this.opts.role === 'analyst' ? 'completed' : 'user_stopped', true);
  }

  /** Idempotent, complete teardown. Every end path comes here. */
  tearDown(reason: EndReason, tellBroker = false): Promise<{ reason: EndReason; revoked: string[] }> {
    this.teardown ??= this.runTeardown(reason, tellBroker);
    return this.teardown;
  }

  private async runTeardown(reason: EndReason, tellBroker: boolean): Promise<{ reason: EndReason; revoked: string[] }> {
    this.setState('ended');
    for (const t of [this.expiryTimer, this.graceTimer]) if (t) this.deps.clock.clearTimeout(t);
    let revoked: string[] = [];
    try {
      revoked = [...(await (this.opts.onTeardown?.(reason) ?? []))];
    } catch {
      // The grant layer fails closed on its own; teardown goes on regardless.
    }
    if (this.screen) {
      this.screen.stopAll();
      if (!revoked.includes('capture')) revoked.push('capture');
    }
    // Tell the broker before the peer connection goes, so the other side learns the real reason
    // from the broker rather than guessing peer_lost from a closed channel.
    if (this.opts.role === 'end_user') await this.report(revoked);
    // A session this side gives up by itself (peer lost, verification failed) ends at the broker
    // at once with that reason, not at the heartbeat timeout.
    if (tellBroker) this.link.send({ type: 'end', ...((END_FRAME_REASONS as readonly string[]).includes(reason) ? { reason } : {}) });
    for (const ch of [this.pointer, this.files, this.clip]) {
      try {
        ch?.close();
      } catch {
        /* already closed */
      }
    }
    this.files = null;
    this.clip = null;
    this.peer?.destroy();
    this.peer = null;
    this.link.close();
    this.token = '';
    const result = { reason, revoked };
    this.emit('ended', result);
    return result;
  }

  private async report(revoked: string[]): Promise<void> {
    const r = this.opts.teardownReport;
    if (!r) return;
    const kinds = [...new Set(revoked.filter((k): k is LocalGrant => (LOCAL_GRANTS as readonly string[]).includes(k)))].sort();
    let receipt: string;
    try {
      receipt = await r.sign(kinds);
    } catch {
      return;
    }
    if (this.link.send({ type: 'teardown.report', revoked: kinds, receipt })) return;
    // Signaling is gone (the broker closed it, or never let us back in): the same report by HTTP.
    void r.overHttp({ revoked: kinds, receipt }).catch(() => undefined);
  }

  // ---------- signaling ----------

  private onLink(e: LinkEvent): void {
    if (this.state === 'ended') return;
    switch (e.kind) {
      case 'ready':
        this.sessionId = e.frame.session_id;
        this.clearGrace();
        this.expiresAt = e.frame.expires_at;
        this.armExpiry();
        // Our commitment goes to the peer whenever it is there, before anything else we send it.
        if (e.frame.peer_online) this.sendCommitment();
        if (!this.peer) {
          this.setState('waiting_peer');
          // The end user offers (it has the screen track); it waits until the analyst is there.
          if (this.opts.role === 'end_user' && e.frame.peer_online) this.createPeer();
          if (this.opts.role === 'analyst') this.createPeer();
        }
        return;
      case 'frame':
        return this.onFrame(e.frame);
      case 'lost':
        this.startGrace('signaling lost');
        return;
      case 'refused':
        void this.tearDown(e.code === 4000 ? 'completed' : 'peer_lost');
        return;
      default:
        return missingCase(e);
    }
  }

  private onFrame(f: BrokerFrame): void {
    switch (f.type) {
      case 'challenge':
      case 'ready':
        return;
      case 'peer.online':
        if (f.online) this.sendCommitment();
        if (f.online && this.opts.role === 'end_user' && !this.peer) this.createPeer();
        return;
      case 'signal':
        this.applySignal(f.payload);
        return;
      case 'grant.request':
        this.asked.set(f.request_id, f.capability);
        this.emit('grantRequest', { request_id: f.request_id, capability: f.capability, mfa_at: f.mfa_at ?? null, direction: f.direction ?? null });
        return;
      case 'grant.changed':
        this.emit('grant', { capability: f.capability, granted: f.granted, by: f.by, requestId: f.request_id ?? null, reason: f.reason ?? null, direction: f.direction ?? null });
        return;
      case 'extend.pending_approval':
        this.emit('extensionPending', { extension_id: f.extension_id, minutes: f.minutes });
        return;
      case 'extend.offer':
        this.emit('extensionOffer', { extension_id: f.extension_id, minutes: f.minutes, new_expires_at: f.new_expires_at });
        return;
      case 'extend.result':
        if (f.accepted) {
          this.expiresAt = f.expires_at;
          this.armExpiry();
          this.emit('expiresAt', f.expires_at);
        }
        this.emit('extensionResult', { extension_id: f.extension_id, accepted: f.accepted, expires_at: f.expires_at, by: f.by, reason: f.reason ?? null, approverName: f.approver_name ?? null });
        return;
      case 'token.renewed':
        this.token = f.token;
        this.link.setToken(f.token);
        return;
      case 'expiry.warning':
        this.emit('warning', f.seconds_left);
        return;
      case 'session.ended':
        if (f.note) this.emit('endNote', f.note);
        void this.tearDown(f.reason);
        return;
      case 'error':
        this.emit('error', { code: f.code, message: f.message });
        return;
      case 'presence':
        this.emit('presence', { present: f.present, watchersNeeded: f.watchers_needed });
        return;
      case 'control.state':
        this.emit('controlState', f.control);
        return;
      case 'watch.note':
        if (this.opts.role === 'analyst') this.emit('note', { from: f.from, text: f.text, at: f.at });
        return;
      default:
        return missingCase(f);
    }
  }

  private applySignal(p: SignalPayload): void {
    if (p.kind === 'sas-commit') {
      void this.verify(this.verification.onPeerCommitment(p.commitment));
      return;
    }
    if (this.peerDead) return;
    if (!this.peer) {
      if (this.opts.role === 'analyst') this.createPeer();
      else return;
    }
    try {
      this.signalPeer(p);
    } catch {
      // A malformed or late signal must not crash the client; a broken negotiation shows as peer loss.
      this.peerDead = true;
      this.startGrace('negotiation failed', PEER_CLOSED_SETTLE_MS);
    }
  }

  private signalPeer(p: SignalPayload): void {
    const signal = toPeerSignal(p, this.opts.candidateFilter);
    if (signal) this.peer!.signal(signal);
  }

  // ---------- the peer connection ----------

  private createPeer(): void {
    const initiator = this.opts.role === 'end_user';
    const peer = new SimplePeer({
      initiator,
      trickle: true,
      wrtc: this.deps.wrtc as never,
      channelName: CONTROL_CHANNELS.reliable.label,
      channelConfig: { ordered: true },
      config: { iceServers: this.opts.iceServers as RTCIceServer[], iceTransportPolicy: this.opts.iceTransportPolicy ?? 'all' },
      ...(initiator && this.opts.stream ? { stream: this.opts.stream } : {}),
      sdpTransform: sdpCandidateTransform(this.opts.candidateFilter),
    });
    this.peer = peer;
    const pc = (peer as unknown as { _pc: RTCPeerConnection })._pc;
    this.pc = pc;
    // Before simple-peer's first offer (queued, not yet made): the codec order is part of it.
    const screenTrack = initiator ? this.opts.stream?.getVideoTracks()[0] : undefined;
    if (screenTrack) preferScreenCodecs(pc, screenTrack);
    // simple-peer destroys the whole connection when one remote candidate cannot be applied (an
    // unknown m-section, a line another stack writes differently). One candidate is never worth
    // the session: it is dropped and counted, and ICE goes on with the others.
    (peer as unknown as { _addIceCandidate(c: RTCIceCandidateInit): void })._addIceCandidate = (c) => {
      const drop = () => void this.candidatesDropped++;
      try {
        pc.addIceCandidate(c).catch(drop);
      } catch {
        drop();
      }
    };
    // Pointer moves: unordered and never retransmitted; negotiated on both sides with a fixed id.
    this.pointer = pc.createDataChannel(CONTROL_CHANNELS.pointer.label, { negotiated: true, id: POINTER_CHANNEL_ID, ordered: false, maxRetransmits: 0 });
    this.pointer.onmessage = (ev) => {
      if (this.opts.role === 'end_user' && typeof ev.data === 'string') this.emit('control', { data: ev.data, channel: 'pointer' });
    };
    // Files: their own reliable channel, so a transfer never holds up input or chat.
    const files = pc.createDataChannel(FILE_CHANNEL.label, { negotiated: true, id: FILE_CHANNEL.id, ordered: true });
    files.binaryType = 'arraybuffer';
    this.files = files;
    files.onopen = () => this.emit('filesOpen', files);
    files.onmessage = (ev) => {
      if (typeof ev.data === 'string' || ev.data instanceof ArrayBuffer) this.emit('file', ev.data);
      // Some stacks (node wrtc) hand over a Buffer or typed array.
      else if (ArrayBuffer.isView(ev.data)) this.emit('file', new Uint8Array(ev.data.buffer, ev.data.byteOffset, ev.data.byteLength).slice().buffer);
    };
    // Clipboard text: its own reliable channel too, so a long text never waits behind a file.
    const clip = pc.createDataChannel(CLIPBOARD_CHANNEL.label, { negotiated: true, id: CLIPBOARD_CHANNEL.id, ordered: true });
    this.clip = clip;
    clip.onmessage = (ev) => {
      if (typeof ev.data === 'string') this.emit('clipboard', ev.data);
    };
    peer.on('signal', (data: SimplePeer.SignalData) => this.onLocalSignal(data));
    peer.on('connect', () => {
      this.clearGrace();
      this.setState('connected');
      this.verification.onTransportUp();
      if (this.opts.role === 'end_user') void this.applyQuality();
      if (this.opts.role === 'end_user' && this.shownDisplay) this.announceDisplay(this.shownDisplay);
      void this.verify({ kind: 'none' });
    });
    peer.on('data', (chunk: Uint8Array | string) => {
      const text = typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
      const own = decodeSessionMessage(text);
      if (own) {
        // The session's own messages never reach the input gate; a malformed one is dropped.
        if (own.ok) this.onSessionMessage(own.msg);
        return;
      }
      if (this.opts.role === 'end_user') {
        // Untrusted: the input gate in main/ decides what, if anything, happens with it.
        this.emit('control', { data: text, channel: 'reliable' });
        return;
      }
      // The analyst only ever accepts chat from the end user; anything else is dropped.
      const d = decodeControl(text, 'reliable');
      if (d.ok && d.msg.t === 'chat') this.emit('chat', d.msg.text);
    });
    peer.on('stream', (s: MediaStream) => this.emit('stream', s));
    peer.on('track', (_t: MediaStreamTrack, s: MediaStream) => this.emit('stream', s));
    // simple-peer destroys the connection when ICE fails; here a failed path is restarted first
    // (ice-restart.ts) and the grace decides when the session is given up.
    const restarter = new IceRestarter(pc, peer as never, this.deps.clock, initiator);
    this.restarter = restarter;
    const sp = peer as unknown as { _onIceStateChange(): void; emit(e: string, ...a: unknown[]): boolean };
    const onIce = sp._onIceStateChange.bind(peer);
    sp._onIceStateChange = () => {
      if (pc.iceConnectionState !== 'failed' || this.state === 'ended') return onIce();
      sp.emit('iceStateChange', 'failed', pc.iceGatheringState);
    };
    peer.on('iceStateChange', (ice: string) => {
      restarter.onIceState(ice);
      if (ice === 'disconnected' || ice === 'failed') this.startGrace(`ice ${ice}`);
      if ((ice === 'connected' || ice === 'completed') && this.state === 'interrupted') {
        this.clearGrace();
        this.setState('connected');
        void this.verify({ kind: 'none' });
      }
    });
    // A closed or failed peer connection locks control at once; the broker usually says why within
    // moments (the other side stopped, the session was revoked), otherwise it is peer_lost.
    const dead = () => {
      this.peerDead = true;
      this.startGrace('peer closed', PEER_CLOSED_SETTLE_MS);
    };
    peer.on('close', dead);
    peer.on('error', dead);
  }

  private onLocalSignal(d: SimplePeer.SignalData): void {
    const payload = fromPeerSignal(d, this.opts.candidateFilter);
    if (payload) this.link.send({ type: 'signal', payload });
  }

  private onSessionMessage(m: SessionMessage): void {
    switch (m.t) {
      case 'sas-reveal':
        void this.verify(this.verification.onPeerReveal(m.value));
        return;
      case 'share':
        // Only the end user's screen can be paused; from the analyst it means nothing.
        if (this.opts.role === 'analyst') this.emit('share', { paused: m.paused });
        return;
      case 'quality':
        // Only the analyst chooses; the end user's side applies it to what it sends.
        if (this.opts.role !== 'end_user') return;
        this.quality = m.preset;
        this.emit('quality', m.preset);
        void this.applyQuality();
        return;
      case 'display':
        // Only the end user's side knows its displays; a count below the index is nonsense.
        if (this.opts.role === 'analyst' && m.index <= m.count) this.emit('display', { index: m.index, count: m.count, width: m.width, height: m.height });
        return;
      case 'control-live':
        if (this.opts.role === 'analyst') this.emit('controlLive', true);
        return;
      default:
        return missingCase(m);
    }
  }

  private sendCommitment(): void {
    const payload = this.verification.commitFrame();
    if (payload) this.link.send({ type: 'signal', payload });
    void this.verify({ kind: 'none' });
  }

  /** One step of the verification code: reveal when it is time, then the code or the failure. */
  private async verify(step: VerificationStep): Promise<void> {
    if (this.state === 'ended') return;
    if (step.kind === 'failed') return this.failVerification(step.why);
    const r = this.verification.revealIfReady();
    if (r.kind === 'reveal' && this.sendSession(JSON.stringify({ t: 'sas-reveal', seq: this.seq, value: r.value }))) {
      this.seq++;
      this.verification.markRevealed();
    }
    if (!this.pc) return;
    const res = await this.verification.result(this.pc);
    if (res.kind === 'failed') return this.failVerification(res.why);
    // The session may have ended while the digest was being computed.
    if (res.kind === 'code' && (this.state as EngineState) !== 'ended') {
      this.sas = res.sas;
      this.emit('sas', res.sas);
    }
  }

  private failVerification(why: string): void {
    this.verificationFailure = why;
    void this.tearDown('verification_failed', true);
  }

  /** The session's own messages go whenever the channel is open, interrupted signaling or not. */
  private sendSession(text: string): boolean {
    if (!this.peer || this.state === 'ended') return false;
    try {
      this.peer.send(text);
      return true;
    } catch {
      return false;
    }
  }

  private sendReliable(text: string): boolean {
    if (!this.peer || this.state !== 'connected') return false;
    try {
      this.peer.send(text);
      return true;
    } catch {
      return false;
    }
  }

  // ---------- time ----------

  /** Local expiry: ends the session at the token's expiry even if the broker says nothing. */
  private armExpiry(): void {
    if (this.expiryTimer) this.deps.clock.clearTimeout(this.expiryTimer);
    const delay = Math.max(0, this.expiresAt - this.deps.clock.now());
    this.expiryTimer = this.deps.clock.setTimeout(() => void this.tearDown('expired'), delay);
  }

  private startGrace(_why: string, capMs = Infinity): void {
    if (this.state === 'ended') return;
    const wait = Math.min(this.grace, capMs);
    if (this.graceTimer) {
      // A dead peer connection shortens a grace that a mere ICE blip started.
      if (wait >= this.grace) return;
      this.deps.clock.clearTimeout(this.graceTimer);
    } else {
      if (this.state === 'connected') this.setState('interrupted');
      this.emit('controlLocked', true);
    }
    this.graceTimer = this.deps.clock.setTimeout(() => void this.tearDown('peer_lost', true), wait);
  }

  private clearGrace(): void {
    // Signaling coming back does not revive a peer connection that is gone.
    if (!this.graceTimer || this.peerDead) return;
    this.deps.clock.clearTimeout(this.graceTimer);
    this.graceTimer = null;
    if (this.state === 'interrupted' && this.peer) this.setState('connected');
    this.emit('controlLocked', false);
  }

  private setState(s: EngineState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }
}
