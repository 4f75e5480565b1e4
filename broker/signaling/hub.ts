import crypto from 'node:crypto';
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { isGrantable } from '../../common/capabilities.js';
import type { GrantDirection } from '../../common/grant-direction.js';
import type { GrantChangeReason } from '../../common/control/refusals.js';
import { missingCase } from '../../common/missing-case.js';
import { CLOSE, ClientFrameSchema, type BrokerFrame, type ClientFrame } from '../../common/protocol/signaling.js';
import { MAX_SIGNALING_FRAME_BYTES } from '../../common/protocol/limits.js';
import { AccountSchema } from '../../common/protocol/responses.js';
import type { SessionRole } from '../../common/roles.js';
import type { EndReason } from '../../common/session-state.js';
import { verifyNonceProof } from '../auth/dpop.js';
import { TokenError } from '../auth/tokens.js';
import type { BrokerContext } from '../context.js';
import { DomainError } from '../domain-errors.js';
import type { AuditMeta } from '../../common/audit-chain.js';
import { TokenBucket, sourceRefusalKey } from '../rate-limit.js';
import type { SessionMessage } from '../cluster/messages.js';
import type { ExtensionEvent, SessionEvents } from '../sessions/events.js';
import type { LiveSession } from '../sessions/live.js';
import { endUserActor, type Actor } from '../sessions/types.js';
import { WatchHub } from './watch-hub.js';
import { WatchBrokerFrameSchema, type WatchBrokerFrame } from '../../common/protocol/watch.js';

const AUTH_TIMEOUT_MS = 10_000;
/** How long the end user's socket stays open after session.ended, for its teardown report. */
export const TEARDOWN_LINGER_MS = 2000;
/**
 * Frames of one socket waiting to be handled. They are handled one at a time, in order, so a
 * limit checked before an await holds for the frames behind it; a client that sends faster than
 * the broker can answer gets its extra frames refused rather than queued without end.
 */
export const MAX_QUEUED_FRAMES = 256;
/** The same bound in bytes, so waiting frames cannot hold more than this much memory per socket. */
export const MAX_QUEUED_BYTES = 1024 * 1024;

interface Conn {
  ws: WebSocket;
  source: string;
  nonce: string;
  role: SessionRole | null;
  session: LiveSession | null;
  actor: Actor;
  jti: string | null;
  bucket: TokenBucket;
  lastSeen: number;
  authTimer: NodeJS.Timeout | null;
  /** Cluster mode: this socket counts towards this instance hearing its session's channel. */
  joined?: boolean;
  /**
   * Cluster mode: frames from other instances that arrived while this socket's `ready` was being
   * prepared (registering in Redis); sent right after it, so `ready` is always the first frame.
   */
  early?: BrokerFrame[] | null;
  /** Cluster mode: a newer socket of the same side authenticated on another instance. */
  replacedElsewhere?: boolean;
  /** The frame being handled and those waiting behind it. */
  queue: Promise<void>;
  queued: number;
  queuedBytes: number;
  /** Set once the broker closes the socket: frames still arriving are dropped unread. */
  closing: boolean;
  /** The end user's socket after session.ended, waiting (up to TEARDOWN_LINGER_MS) for its report. */
  lingering: NodeJS.Timeout | null;
  /** This socket has delivered its teardown report. */
  reported: boolean;
}

/** The refusal code for an error the ws library raised about what the client sent (null: not the client's doing). */
export function protocolRefusal(wsCode: string | undefined): string | null {
  if (!wsCode?.startsWith('WS_ERR_')) return null;
  if (wsCode === 'WS_ERR_INVALID_UTF8') return 'invalid_utf8';
  if (wsCode === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || wsCode === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') return 'frame_too_large';
  return 'protocol_error';
}

/** Which frame types each side may send once authenticated; the rest are refused. */
/**
 * Steps that change what the session's lease holder keeps in memory (grants waiting for an
 * answer, a pending extension): in a cluster they run there, whichever instance holds the socket.
 */
type HolderFrame = Extract<ClientFrame, { type: 'grant.request' | 'grant.response' | 'grant.revoke' | 'extend.request' | 'extend.response' }>;
const HOLDER_STEPS: ReadonlySet<ClientFrame['type']> = new Set(['grant.request', 'grant.response', 'grant.revoke', 'extend.request', 'extend.response']);

const ALLOWED: Record<SessionRole, ReadonlySet<ClientFrame['type']>> = {
  analyst: new Set(['heartbeat', 'signal', 'grant.request', 'grant.revoke', 'extend.request', 'end']),
  end_user: new Set(['heartbeat', 'signal', 'grant.response', 'grant.revoke', 'extend.response', 'teardown.report', 'transfer.record', 'clipboard.record', 'end']),
};

/**
 * Signaling: relays WebRTC negotiation between the two parties of one active session, carries
 * grant and extension decisions, pushes the end. Identity comes from the session token plus a
 * proof over this connection's nonce, never from a frame field.
 */
export class SignalingHub implements SessionEvents {
  private readonly bySession = new Map<string, Partial<Record<SessionRole, Conn>>>();
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly endUserSeen = new Map<string, number>();
  /**
   * The frame budget of each party of a session, kept for the session's life rather than the
   * socket's: reconnecting does not refill it. (A restart does: every socket closes with it.)
   */
  private readonly buckets = new Map<string, TokenBucket>();
  /** End users' sockets held open after their session ended (linger). */
  private readonly lingerers = new Set<Conn>();
  private closing = false;
  /** The watchers' sockets (watch-hub.ts): told of the same lifecycle events. */
  readonly watch: WatchHub;

  constructor(private readonly ctx: BrokerContext) {
    this.watch = new WatchHub(ctx);
    ctx.sessions.setEvents(this);
    this.heartbeatTimer = setInterval(() => this.checkHeartbeats(), 1000);
    this.heartbeatTimer.unref();
  }

  get socketCount(): number {
    let n = 0;
    for (const s of this.bySession.values()) n += (s.analyst ? 1 : 0) + (s.end_user ? 1 : 0);
    return n;
  }

  register(app: FastifyInstance): void {
    app.get('/api/v1/signaling', { websocket: true }, (socket: WebSocket, req: FastifyRequest) => this.accept(socket, req.ip));
    this.watch.register(app);
  }

  close(): void {
    this.closing = true;
    this.watch.close();
    clearInterval(this.heartbeatTimer);
    for (const parties of this.bySession.values()) {
      for (const c of Object.values(parties)) if (c) this.closeConn(c, 1001, 'broker shutting down');
    }
    this.bySession.clear();
    for (const c of [...this.lingerers]) this.closeConn(c, 1001, 'broker shutting down');
  }

  private accept(ws: WebSocket, source: string): void {
    const now = this.ctx.now();
    const rl = this.ctx.cfg.rateLimits;
    const c: Conn = {
      ws,
      source,
      nonce: crypto.randomBytes(24).toString('base64url'),
      role: null,
      session: null,
      actor: { actor: 'anonymous', source },
      jti: null,
      bucket: new TokenBucket(rl.signaling_frames_per_s, rl.signaling_burst, now),
      lastSeen: now,
      authTimer: null,
      queue: Promise.resolve(),
      queued: 0,
      queuedBytes: 0,
      closing: false,
      lingering: null,
      reported: false,
    };
    c.authTimer = setTimeout(() => this.refuse(c, 'auth_timeout', 'authenticate within 10 seconds', CLOSE.authTimeout), AUTH_TIMEOUT_MS);
    c.authTimer.unref();
    ws.on('message', (data, isBinary) => this.receive(c, data as Buffer, isBinary));
    ws.on('close', () => this.onClose(c));
    // ws refuses what breaks the WebSocket protocol itself and closes with the code the RFC says
    // (1007 not UTF-8, 1009 too big, 1002 the rest): recorded like every other refusal.
    ws.on('error', (err: Error & { code?: string }) => {
      const code = protocolRefusal(err.code);
      if (!code) return;
      c.closing = true;
      this.ctx.metrics.framesRefused({ code });
      this.auditRefusal(c, code, { closed: true });
    });
    this.send(c, { type: 'challenge', nonce: c.nonce });
  }

  /**
   * Every frame of a socket goes through its queue: handled after the one before it has finished,
   * whatever that awaited. The rate limit and the queue's bound are checked on arrival.
   */
  private receive(c: Conn, data: Buffer, isBinary: boolean): void {
    if (c.closing) return;
    if (!c.bucket.take(this.ctx.now())) return this.dropFrame(c, 'rate_limited', 'too many frames; slow down');
    if (c.queued >= MAX_QUEUED_FRAMES || c.queuedBytes + data.length > MAX_QUEUED_BYTES) {
      return this.dropFrame(c, 'queue_full', 'too many frames are waiting to be handled; slow down');
    }
    c.queued++;
    c.queuedBytes += data.length;
    c.queue = c.queue
      .then(() => (c.closing ? undefined : this.onMessage(c, data, isBinary)))
      // A frame whose handling fails unexpectedly (a database error, the broker closing under it)
      // must not become an unhandled rejection, which would stop the whole process.
      .catch((err: unknown) => {
        if (this.closing) return;
        process.stderr.write(`signaling: a frame could not be handled: ${String((err as Error)?.message ?? err)}\n`);
        this.send(c, { type: 'error', code: 'internal', message: 'the broker could not handle that frame' });
      })
      .finally(() => {
        c.queued--;
        c.queuedBytes -= data.length;
      });
  }

  /** A frame refused on arrival (flood): dropped, the socket stays open. */
  private dropFrame(c: Conn, code: string, message: string): void {
    this.ctx.metrics.framesRefused({ code });
    this.auditRefusal(c, code);
    this.send(c, { type: 'error', code, message });
  }

  private async onMessage(c: Conn, data: Buffer, isBinary: boolean): Promise<void> {
    const now = this.ctx.now();
    if (isBinary) return this.refuse(c, 'binary_frame', 'binary frames are not accepted', CLOSE.badFrame);
    if (data.length > MAX_SIGNALING_FRAME_BYTES) return this.refuse(c, 'frame_too_large', 'frames are limited to 64 KiB', CLOSE.tooBig);
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString('utf8'));
    } catch {
      return this.refuse(c, 'invalid_json', 'frames must be JSON text', CLOSE.badFrame);
    }
    const parsed = ClientFrameSchema.safeParse(raw);
    if (!parsed.success) {
      const type = raw && typeof raw === 'object' && 'type' in raw ? String((raw as { type: unknown }).type).slice(0, 40) : '(none)';
      return this.refuse(c, 'invalid_frame', `frame of type ${type} does not match the protocol`, CLOSE.badFrame);
    }
    const frame = parsed.data;
    if (c.role === null) {
      if (frame.type !== 'auth') return this.refuse(c, 'auth_required', 'the first frame must be auth', CLOSE.authFailed);
      return this.authenticate(c, frame.token, frame.proof);
    }
    c.lastSeen = now;
    if (c.role === 'end_user' && c.session!.state === 'active') this.endUserSeen.set(c.session!.id, now);
    if (frame.type === 'auth') return this.notNow(c, frame.type, 'already authenticated');
    if (!ALLOWED[c.role].has(frame.type)) return this.notNow(c, frame.type, `${c.role} may not send ${frame.type}`);
    const s = c.session!;
    if (s.state !== 'active') {
      if (!c.lingering) return this.refuse(c, 'session_ended', 'the session is not active', CLOSE.sessionEnded);
      // The session is over: its end user's teardown report is all that is still taken.
      if (frame.type !== 'teardown.report') return;
      await this.handleOrRefuse(c, s, frame);
      this.closeConn(c, CLOSE.sessionEnded, 'session ended');
      return;
    }
    await this.handleOrRefuse(c, s, frame);
  }

  private async handleOrRefuse(c: Conn, s: LiveSession, frame: Exclude<ClientFrame, { type: 'auth' }>): Promise<void> {
    try {
      await this.handle(c, s, frame);
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
      // A refusal from the lifecycle is an error frame and a (throttled) record; the socket stays open.
      this.ctx.metrics.framesRefused({ code: e.code });
      this.auditRefusal(c, e.code, { frame_type: frame.type });
      this.send(c, { type: 'error', code: e.code, message: e.message });
    }
  }

  private async handle(c: Conn, s: LiveSession, frame: Exclude<ClientFrame, { type: 'auth' }>): Promise<void> {
    const role = c.role!;
    switch (frame.type) {
      case 'heartbeat':
        return;
      case 'signal': {
        const peer = this.peer(s.id, role);
        const out: BrokerFrame = { type: 'signal', from: role, payload: frame.payload };
        if (peer) {
          this.ctx.metrics.framesRelayed();
          this.send(peer, out);
          return;
        }
        // In a cluster the peer may be on another instance: this one and that one hear the session's channel.
        const heard = this.ctx.cluster ? await this.ctx.cluster.toSession(s.id, { t: 'deliver', role: otherRole(role), frame: out }) : 0;
        if (heard < 2) {
          this.send(c, { type: 'error', code: 'peer_offline', message: 'the other party is not connected yet' });
          return;
        }
        this.ctx.metrics.framesRelayed();
        return;
      }
      case 'grant.request':
      case 'grant.response':
      case 'grant.revoke':
      case 'extend.request':
      case 'extend.response': {
        const cluster = this.ctx.cluster;
        if (!cluster) return this.holderStep(s, role, c.actor, frame);
        return cluster.onHolder(s.id, { role, actor: c.actor, frame }, () => this.holderStep(s, role, c.actor, frame));
      }
      case 'teardown.report':
        await this.ctx.sessions.teardownReport(s.id, { revoked: frame.revoked, receipt: frame.receipt }, { jkt: s.endUserJkt ?? '' }, c.source);
        c.reported = true;
        return;
      case 'transfer.record': {
        // Only files the session was approved for; the record itself is the end user's word.
        if (!s.capabilities.includes('files')) {
          this.send(c, { type: 'error', code: 'capability_not_approved', message: 'files was not approved for this session' });
          return;
        }
        const { type: _t, ...meta } = frame;
        this.ctx.audit.record({ type: 'file.transfer', outcome: 'success', ...c.actor, session_id: s.id, ticket: s.ticket, meta });
        return;
      }
      case 'clipboard.record': {
        if (!s.capabilities.includes('clipboard')) {
          this.send(c, { type: 'error', code: 'capability_not_approved', message: 'clipboard was not approved for this session' });
          return;
        }
        this.ctx.audit.record({ type: 'clipboard.sync', outcome: 'success', ...c.actor, session_id: s.id, ticket: s.ticket, meta: { direction: frame.direction, type: frame.kind ?? 'text', length: frame.length } });
        return;
      }
      case 'end':
        // A client ending by itself says why (peer lost, verification failed); otherwise the side decides.
        await this.ctx.sessions.end(s.id, frame.reason ?? (role === 'analyst' ? 'completed' : 'user_stopped'), c.actor);
        return;
      default:
        return missingCase(frame);
    }
  }

  /** A step run where the session's lease is held (here, or sent here by the socket's instance). */
  private holderStep(s: LiveSession, role: SessionRole, actor: Actor, frame: HolderFrame): Promise<void> {
    switch (frame.type) {
      case 'grant.request':
        return this.ctx.sessions.requestGrant(s, frame.request_id, frame.capability, actor, frame.direction);
      case 'grant.response':
        return this.ctx.sessions.respondGrant(s, frame.request_id, frame.capability, frame.allow, actor, frame.reason, frame.direction);
      case 'grant.revoke':
        return this.ctx.sessions.revokeGrant(s, frame.capability, role, actor);
      case 'extend.request':
        return this.ctx.sessions.requestExtension(s, frame.minutes, actor);
      case 'extend.response':
        return this.ctx.sessions.respondExtension(s, frame.extension_id, frame.accept, frame.receipt, actor);
      default:
        return missingCase(frame);
    }
  }

  /** A holder step sent by the instance holding the socket (cluster mode); its body parsed again here. */
  async runHolderStep(sid: string, body: unknown): Promise<void> {
    const approval = ApprovalStepSchema.safeParse(body);
    if (approval.success) {
      const a = approval.data.approval;
      return this.ctx.sessions.approveExtension(a.account, sid, a.extension_id, a.approve, a.source, a.reason);
    }
    const parsed = HolderStepSchema.safeParse(body);
    if (!parsed.success) throw new DomainError('bad_request', 'invalid_step', 'a step from another instance did not parse');
    const frame = ClientFrameSchema.safeParse(parsed.data.frame);
    if (!frame.success || !HOLDER_STEPS.has(frame.data.type)) throw new DomainError('bad_request', 'invalid_frame', 'a step from another instance did not parse');
    const s = this.ctx.sessions.live.get(sid);
    if (!s || s.state !== 'active') throw new DomainError('conflict', 'session_ended', 'the session is not active');
    if (!ALLOWED[parsed.data.role].has(frame.data.type)) throw new DomainError('forbidden', 'not_allowed', `${parsed.data.role} may not send ${frame.data.type}`);
    return this.holderStep(s, parsed.data.role, parsed.data.actor, frame.data as HolderFrame);
  }

  private async authenticate(c: Conn, token: string, proof: string): Promise<void> {
    const now = this.ctx.now();
    let claims;
    let jkt: string;
    try {
      claims = await this.ctx.tokens.verify('session', token);
      jkt = (await verifyNonceProof(proof, c.nonce, token, now)).jkt;
    } catch (e) {
      if (e instanceof TokenError) return this.refuse(c, e.code, e.message, CLOSE.authFailed);
      throw e;
    }
    const cnf = claims.cnf as { jkt?: unknown } | undefined;
    if (!cnf || cnf.jkt !== jkt) return this.refuse(c, 'bad_proof', 'the proof was made with another key than the token is bound to', CLOSE.authFailed);
    const role = claims.role;
    const sid = claims.sid;
    if ((role !== 'analyst' && role !== 'end_user') || typeof sid !== 'string') return this.refuse(c, 'bad_token', 'token lacks a session role', CLOSE.authFailed);
    const live = await this.ctx.sessions.checkSessionToken(claims.jti, sid);
    if (!live) return this.refuse(c, 'token_revoked', 'this token is revoked or its session is not active', CLOSE.authFailed);
    if (c.ws.readyState !== c.ws.OPEN) return;
    if (c.authTimer) clearTimeout(c.authTimer);
    c.role = role;
    c.session = live;
    c.jti = claims.jti;
    const budget = `${sid}:${role}`;
    const bucket = this.buckets.get(budget) ?? c.bucket;
    this.buckets.set(budget, bucket);
    c.bucket = bucket;
    c.actor = role === 'analyst' ? { actor: `account:${live.analystUsername}`, source: c.source } : endUserActor(jkt, c.source);
    const parties = this.bySession.get(sid) ?? {};
    const previous = parties[role];
    parties[role] = c;
    this.bySession.set(sid, parties);
    if (previous) this.closeConn(previous, CLOSE.replaced, 'replaced by a newer connection');
    if (role === 'end_user') this.endUserSeen.set(sid, now);
    this.ctx.audit.record({ type: 'signaling.connected', outcome: 'success', ...c.actor, session_id: sid, ticket: live.ticket, meta: { role, jti: claims.jti } });
    const peer = this.peer(sid, role);
    let peerOnline = Boolean(peer);
    const cluster = this.ctx.cluster;
    if (cluster) {
      c.early = [];
      // Heard before registering, so nothing said about this session from now on is missed here.
      await cluster.joinSession(sid);
      c.joined = true;
    }
    if (cluster) {
      // An older socket of this side on another instance is closed there; a peer there hears we are online.
      const { peerRegistered } = await cluster.socketConnected(sid, role, otherRole(role));
      if (!peer) peerOnline = peerRegistered;
      if (c.ws.readyState !== c.ws.OPEN || parties[role] !== c) return;
    }
    const early = c.early ?? [];
    c.early = null;
    this.send(c, { type: 'ready', session_id: sid, role, expires_at: live.expiresAt ?? 0, capabilities: live.capabilities, grants: [...live.granted], peer_online: peerOnline });
    for (const f of early) this.send(c, f);
    if (peer) this.send(peer, { type: 'peer.online', online: true });
    // Nobody watches unseen: who is present, and whether control is suspended, right after ready.
    const v = await this.ctx.sessions.watchView(live);
    this.send(c, { type: 'presence', present: v.present, watchers_needed: v.watchers_needed });
    if (v.control.suspended) this.send(c, { type: 'control.state', control: v.control });
  }

  // ---------- cluster mode: what the other instances say about the sessions whose sockets are here

  onClusterSession(sid: string, m: SessionMessage): void {
    const cluster = this.ctx.cluster;
    if (!cluster) return;
    const parties = this.bySession.get(sid);
    switch (m.t) {
      case 'deliver': {
        const c = parties?.[m.role];
        if (!c) return;
        if (m.frame.type === 'signal') this.ctx.metrics.framesRelayed();
        this.send(c, m.frame as BrokerFrame);
        return;
      }
      case 'connected': {
        if (m.node === cluster.nodeId) return;
        const same = parties?.[m.role];
        if (same) {
          delete parties[m.role];
          same.replacedElsewhere = true;
          this.closeConn(same, CLOSE.replaced, 'replaced by a newer connection');
        }
        const peer = parties?.[otherRole(m.role)];
        if (peer) this.send(peer, { type: 'peer.online', online: true });
        return;
      }
      case 'disconnected': {
        if (m.node === cluster.nodeId) return;
        const peer = parties?.[otherRole(m.role)];
        if (peer) this.send(peer, { type: 'peer.online', online: false });
        return;
      }
      case 'watch': {
        if (m.node === cluster.nodeId) return;
        if (m.chunk !== undefined) this.watch.chunkStored(sid, m.chunk, null);
        const frame = m.frame ? WatchBrokerFrameSchema.safeParse(m.frame) : null;
        if (frame?.success) this.watch.toWatchers(sid, frame.data);
        if (m.reload) {
          void this.ctx.sessions.reloadWatch(sid).then(
            (live) => live && this.pushWatchState(live, 'both'),
            () => undefined,
          );
        }
        return;
      }
      default:
        return missingCase(m);
    }
  }

  /** The sockets whose client was heard from within the heartbeat timeout: kept in the registry. */
  heldSockets(): { sid: string; role: string }[] {
    const now = this.ctx.now();
    const timeout = this.ctx.cfg.policy.heartbeat_timeout_seconds * 1000;
    const out: { sid: string; role: string }[] = [];
    for (const [sid, parties] of this.bySession) {
      for (const role of ['analyst', 'end_user'] as const) {
        const c = parties[role];
        if (c && now - c.lastSeen <= timeout) out.push({ sid, role });
      }
    }
    return out;
  }

  /** Redis was away: an end announced meanwhile may not have reached us, so ask the store. */
  async reconcile(): Promise<void> {
    for (const sid of [...this.bySession.keys()]) {
      await this.ctx.sessions.refresh(sid).catch(() => undefined);
    }
  }

  /** A frame for one side of a session, on whichever instance holds its socket. */
  private toParty(sid: string, role: SessionRole, f: BrokerFrame): void {
    const c = this.bySession.get(sid)?.[role];
    if (c) return this.send(c, f);
    this.ctx.cluster?.toSession(sid, { t: 'deliver', role, frame: f }).catch(() => undefined);
  }

  private onClose(c: Conn): void {
    if (c.authTimer) clearTimeout(c.authTimer);
    if (c.lingering) clearTimeout(c.lingering);
    c.lingering = null;
    this.lingerers.delete(c);
    if (!c.session || !c.role) return;
    const sid = c.session.id;
    const role = c.role;
    const cluster = this.ctx.cluster;
    if (cluster && c.joined) {
      c.joined = false;
      cluster.leaveSession(sid);
    }
    const parties = this.bySession.get(sid);
    if (!parties || parties[role] !== c) {
      // Replaced by a newer socket (here or on another instance): the registry is that one's now.
      return;
    }
    delete parties[role];
    if (!parties.analyst && !parties.end_user) this.bySession.delete(sid);
    const peer = this.peer(sid, role);
    if (peer) this.send(peer, { type: 'peer.online', online: false });
    if (cluster && !this.closing) {
      void cluster.socketClosed(sid, role).catch(() => undefined);
    }
  }

  private peer(sid: string, role: SessionRole): Conn | undefined {
    return this.bySession.get(sid)?.[role === 'analyst' ? 'end_user' : 'analyst'];
  }

  private send(c: Conn, f: BrokerFrame): void {
    if (c.early) return void c.early.push(f);
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(JSON.stringify(f));
  }

  /** Refuses a frame and closes the socket with a clear code; audited (throttled per socket). */
  private refuse(c: Conn, code: string, message: string, closeCode: number): void {
    this.ctx.metrics.framesRefused({ code });
    this.auditRefusal(c, code, { closed: true });
    this.send(c, { type: 'error', code, message });
    this.closeConn(c, closeCode, code);
  }

  /** Closes a socket from the broker's side; whatever it still sends is dropped unread. */
  private closeConn(c: Conn, code: number, reason: string): void {
    if (c.lingering) clearTimeout(c.lingering);
    c.lingering = null;
    this.lingerers.delete(c);
    c.closing = true;
    c.ws.close(code, reason);
  }

  /** Refuses a frame the current role or state does not allow, keeping the socket open. */
  private notNow(c: Conn, type: string, message: string): void {
    this.ctx.metrics.framesRefused({ code: 'not_allowed' });
    this.auditRefusal(c, 'not_allowed', { frame_type: type });
    this.send(c, { type: 'error', code: 'not_allowed', message });
  }

  /**
   * Every refused frame is recorded, throttled so a flood does not become an audit flood
   * (AuditLog.refused: a burst, then one record per second, each saying how many it stands for):
   * per party of a session once authenticated (a reconnect does not start a new burst), per
   * source before, so that many sockets from one source count as one.
   */
  private auditRefusal(c: Conn, code: string, meta: AuditMeta = {}): void {
    const key = c.session && c.role ? `signaling|${c.session.id}|${c.role}` : sourceRefusalKey('signaling.frame_refused', c.source);
    void this.ctx.audit.refused({ type: 'signaling.frame_refused', outcome: 'denied', ...c.actor, session_id: c.session?.id ?? null, ticket: c.session?.ticket ?? null, meta: { code, ...meta } }, key);
  }

  /** An end user whose client goes silent past the timeout has lost the session: peer_lost. */
  private checkHeartbeats(): void {
    const now = this.ctx.now();
    const timeout = this.ctx.cfg.policy.heartbeat_timeout_seconds * 1000;
    const cluster = this.ctx.cluster;
    const elsewhere: string[] = [];
    for (const s of this.ctx.sessions.live.values()) {
      if (s.state !== 'active') continue;
      if (cluster) {
        // The lease holder decides; an end user whose socket is on another instance counts as
        // heard while that instance keeps it in the registry (it renews only sockets heard from).
        if (!cluster.owns(s.id)) continue;
        if (!this.bySession.get(s.id)?.end_user) elsewhere.push(s.id);
      }
      const seen = this.endUserSeen.get(s.id) ?? this.activatedAt.get(s.id);
      if (seen === undefined) {
        // Resumed after a restart: the end user gets one full timeout to come back.
        this.activatedAt.set(s.id, now);
        continue;
      }
      if (now - seen > timeout) {
        this.endUserSeen.delete(s.id);
        this.activatedAt.delete(s.id);
        void this.ctx.sessions.end(s.id, 'peer_lost', { actor: 'system', source: null }, {}, { silent_ms: now - seen }).catch(() => undefined);
      }
    }
    // One look-up for all of them, not one per session and second.
    if (cluster && elsewhere.length > 0) {
      void cluster.holders(elsewhere, 'end_user').then((hs) => {
        hs.forEach((h, i) => {
          const sid = elsewhere[i]!;
          if (h && this.ctx.sessions.live.has(sid)) this.endUserSeen.set(sid, this.ctx.now());
        });
      }, () => undefined);
    }
  }

  private readonly activatedAt = new Map<string, number>();

  // ---------- SessionEvents: pushes from the lifecycle ----------

  endStored(reason: EndReason): void {
    // Counted where the end was stored, not on each instance that held a copy of the session.
    this.ctx.metrics.sessionsEnded({ reason });
  }

  activated(s: LiveSession): void {
    this.activatedAt.set(s.id, this.ctx.now());
  }

  ended(s: LiveSession, reason: EndReason): void {
    this.watch.ended(s, reason);
    this.endUserSeen.delete(s.id);
    this.activatedAt.delete(s.id);
    this.buckets.delete(`${s.id}:analyst`);
    this.lastControl.delete(s.id);
    this.buckets.delete(`${s.id}:end_user`);
    const parties = this.bySession.get(s.id);
    this.bySession.delete(s.id);
    if (!parties) return;
    for (const c of [parties.analyst, parties.end_user]) {
      if (!c) continue;
      this.send(c, { type: 'session.ended', reason, ...(s.endNote ? { note: s.endNote } : {}) });
      if (c === parties.end_user && !c.reported && !c.closing) this.linger(c, reason);
      else this.closeConn(c, CLOSE.sessionEnded, `session ended: ${reason}`);
    }
  }

  /**
   * The end user's client tears down when it hears the end and reports what it dropped: its
   * socket stays open that long (closed with 4000 as soon as the report is in, or after
   * TEARDOWN_LINGER_MS); the HTTP route takes the report later.
   */
  private linger(c: Conn, reason: EndReason): void {
    c.lingering = setTimeout(() => {
      this.lingerers.delete(c);
      this.closeConn(c, CLOSE.sessionEnded, `session ended: ${reason}`);
    }, TEARDOWN_LINGER_MS);
    c.lingering.unref();
    this.lingerers.add(c);
  }

  grantRequested(s: LiveSession, requestId: string, capability: string, mfaAt: number, direction?: GrantDirection): void {
    this.toParty(s.id, 'end_user', { type: 'grant.request', request_id: requestId, capability, ...(mfaAt > 0 ? { mfa_at: Math.floor(mfaAt / 1000) } : {}), ...(direction ? { direction } : {}) });
  }

  grantChanged(s: LiveSession, capability: string, granted: boolean, by: SessionRole | 'broker', requestId?: string, reason?: GrantChangeReason, direction?: GrantDirection): void {
    if (!isGrantable(capability as never)) return;
    const extra = { ...(direction ? { direction } : {}), ...(requestId ? { request_id: requestId } : {}), ...(reason ? { reason } : {}) };
    // The end user's machine switches control on from this frame: it goes there first, so the
    // analyst's first input after the grant finds the gate already open. (In a cluster both go
    // out on the session's one channel, in this order.)
    for (const role of ['end_user', 'analyst'] as const) this.toParty(s.id, role, { type: 'grant.changed', capability, granted, by, ...extra });
    const grants: WatchBrokerFrame = { type: 'grants', grants: [...s.granted] };
    this.watch.toWatchers(s.id, grants);
    this.tellOthers(s.id, { reload: false, frame: grants });
  }

  extension(s: LiveSession, e: ExtensionEvent): void {
    switch (e.phase) {
      case 'awaiting_approval':
        this.toParty(s.id, 'analyst', { type: 'extend.pending_approval', extension_id: e.id, minutes: e.minutes });
        return;
      case 'offer':
        this.toParty(s.id, 'end_user', { type: 'extend.offer', extension_id: e.id, minutes: e.minutes, new_expires_at: e.newExpiresAt ?? 0 });
        return;
      case 'result':
        for (const role of ['analyst', 'end_user'] as const) {
          const reason = role === 'analyst' && e.reason ? { reason: e.reason } : {};
          const name = role === 'analyst' && e.approverName ? { approver_name: e.approverName } : {};
          this.toParty(s.id, role, { type: 'extend.result', extension_id: e.id, accepted: Boolean(e.accepted), expires_at: s.expiresAt ?? 0, by: e.by ?? 'end_user', ...reason, ...name });
        }
        if (e.accepted) {
          const expiry: WatchBrokerFrame = { type: 'expiry', expires_at: s.expiresAt ?? 0 };
          this.watch.toWatchers(s.id, expiry);
          this.tellOthers(s.id, { reload: false, frame: expiry });
        }
        return;
      default:
        return missingCase(e.phase);
    }
  }

  tokensRenewed(s: LiveSession, tokens: Partial<Record<SessionRole, { token: string; expires_at: number }>>): void {
    for (const role of ['analyst', 'end_user'] as const) {
      const t = tokens[role];
      if (t) this.toParty(s.id, role, { type: 'token.renewed', token: t.token, expires_at: t.expires_at });
    }
  }

  expiryWarning(s: LiveSession, secondsLeft: number): void {
    for (const role of ['analyst', 'end_user'] as const) this.toParty(s.id, role, { type: 'expiry.warning', seconds_left: secondsLeft, expires_at: s.expiresAt ?? 0 });
  }

  // ---------- monitored sessions (sessions/watchers.ts)

  presenceChanged(s: LiveSession): void {
    this.pushWatchState(s, 'presence');
    this.tellOthers(s.id, { reload: true });
  }

  controlChanged(s: LiveSession): void {
    this.pushWatchState(s, 'control');
    this.tellOthers(s.id, { reload: true });
  }

  /**
   * Presence or control to the sockets held here. In a cluster every instance pushes to its own
   * sockets after reading the state again (tellOthers), so nobody gets a frame twice.
   */
  private pushWatchState(s: LiveSession, what: 'presence' | 'control' | 'both'): void {
    const v = this.ctx.sessions.watchViewNow(s);
    if (!v) return;
    const parties = this.bySession.get(s.id);
    const frames: BrokerFrame[] = [];
    if (what !== 'control') frames.push({ type: 'presence', present: v.present, watchers_needed: v.watchers_needed });
    const control = JSON.stringify(v.control);
    const before = this.lastControl.get(s.id) ?? NOT_SUSPENDED;
    if (what === 'control' || before !== control) {
      this.lastControl.set(s.id, control);
      frames.push({ type: 'control.state', control: v.control });
    }
    for (const f of frames) {
      // The end user's gate first, so the lock is in place before the analyst reads that it is.
      for (const role of ['end_user', 'analyst'] as const) {
        const c = parties?.[role];
        if (c) this.send(c, f);
      }
      if (f.type === 'presence' || f.type === 'control.state') this.watch.toWatchers(s.id, f);
    }
  }

  /** The last control state pushed here per session, so a re-read that changed nothing sends nothing. */
  private readonly lastControl = new Map<string, string>();

  /** Cluster mode: the instances holding this session's sockets re-read the watch state; its lease holder decides on it. */
  private tellOthers(sid: string, m: { reload: boolean; chunk?: number; frame?: Record<string, unknown> }): void {
    const cluster = this.ctx.cluster;
    if (!cluster) return;
    void cluster.toSession(sid, { t: 'watch', node: cluster.nodeId, ...m }).catch(() => undefined);
    if (m.reload && !cluster.owns(sid)) cluster.place(sid);
  }

  watchNote(s: LiveSession, from: string, text: string, at: number): boolean {
    const here = Boolean(this.bySession.get(s.id)?.analyst);
    this.toParty(s.id, 'analyst', { type: 'watch.note', from, text, at });
    return here;
  }

  chunkStored(s: LiveSession, seq: number, bytes: Buffer): void {
    this.watch.chunkStored(s.id, seq, bytes);
    this.tellOthers(s.id, { reload: false, chunk: seq });
  }
}

/** Control as a session starts: nobody has said anything about it yet. */
const NOT_SUSPENDED = JSON.stringify({ suspended: false, reasons: [], by: null, note: null, ends_at: null });

function otherRole(r: SessionRole): SessionRole {
  return r === 'analyst' ? 'end_user' : 'analyst';
}

/** An approver's decision on a request for more time, made over HTTP on another instance (routes/sessions.ts). */
const ApprovalStepSchema = z
  .object({
    approval: z
      .object({ account: AccountSchema, extension_id: z.string().min(1).max(128), approve: z.boolean(), reason: z.string().max(2000).nullable(), source: z.string().max(100).nullable() })
      .strict(),
  })
  .strict();

/** A holder step as another instance sends it (Cluster.onHolder). */
const HolderStepSchema = z
  .object({
    role: z.enum(['analyst', 'end_user']),
    actor: z.object({ actor: z.string().max(200), source: z.string().max(100).nullable() }).strict(),
    frame: z.unknown(),
  })
  .strict();
