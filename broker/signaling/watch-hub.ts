import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { IdSchema } from '../../common/protocol/api.js';
import { MAX_SIGNALING_FRAME_BYTES } from '../../common/protocol/limits.js';
import { CLOSE } from '../../common/protocol/signaling.js';
import { WatchClientFrameSchema, type WatchBrokerFrame } from '../../common/protocol/watch.js';
import type { EndReason } from '../../common/session-state.js';
import { missingCase } from '../../common/missing-case.js';
import { verifyNonceProof } from '../auth/dpop.js';
import { TokenError } from '../auth/tokens.js';
import type { BrokerContext } from '../context.js';
import { DomainError } from '../domain-errors.js';
import { TokenBucket, sourceRefusalKey } from '../rate-limit.js';
import type { LiveSession } from '../sessions/live.js';
import type { LeaveWhy } from '../sessions/watchers.js';

const AUTH_TIMEOUT_MS = 10_000;
/** A watcher this far behind on the picture is closed (1013) rather than buffered without end. */
export const MAX_WATCHER_BACKLOG_BYTES = 16 * 1024 * 1024;
const TRY_AGAIN_LATER = 1013;

interface WatchConn {
  ws: WebSocket;
  source: string;
  nonce: string;
  sid: string;
  watcherId: string | null;
  username: string | null;
  lastSeen: number;
  authTimer: NodeJS.Timeout | null;
  bucket: TokenBucket;
  closing: boolean;
  /** The next chunk this watcher should get: chunks go out in order, each once. */
  nextSeq: number;
  /** Chunks are being read from the store (catch-up, or a gap): live ones wait for it. */
  pumping: boolean;
  again: boolean;
  caughtUp: boolean;
  left: boolean;
  picture: boolean;
}

/**
 * The watch socket (docs/signaling.md "The watch socket"): a supervisor or admin watching one
 * live session. Authenticated like signaling (a broker-signed ticket plus a proof over this
 * connection's nonce with the device key the ticket is bound to), then it gets the recording's
 * chunks as the end user's client uploads them (no second upload from the end user), presence and
 * the state of control. Joining is opening it; leaving is closing it or falling silent.
 */
export class WatchHub {
  private readonly bySession = new Map<string, Set<WatchConn>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly ctx: BrokerContext) {
    this.timer = setInterval(() => this.checkHeartbeats(), 1000);
    this.timer.unref();
  }

  get socketCount(): number {
    let n = 0;
    for (const s of this.bySession.values()) n += s.size;
    return n;
  }

  register(app: FastifyInstance): void {
    app.get('/api/v1/sessions/:id/watch', { websocket: true }, (socket: WebSocket, req: FastifyRequest) => {
      const id = IdSchema.safeParse((req.params as { id?: unknown }).id);
      this.accept(socket, req.ip, id.success ? id.data : null);
    });
  }

  close(): void {
    clearInterval(this.timer);
    for (const set of this.bySession.values()) for (const c of set) this.closeConn(c, 1001, 'broker shutting down');
    this.bySession.clear();
  }

  private accept(ws: WebSocket, source: string, sid: string | null): void {
    const now = this.ctx.now();
    const c: WatchConn = {
      ws,
      source,
      nonce: crypto.randomBytes(24).toString('base64url'),
      sid: sid ?? '',
      watcherId: null,
      username: null,
      lastSeen: now,
      authTimer: null,
      bucket: new TokenBucket(10, 20, now),
      closing: false,
      nextSeq: 0,
      pumping: false,
      again: false,
      caughtUp: false,
      left: false,
      picture: false,
    };
    ws.on('close', () => void this.onClose(c));
    if (!sid) return this.refuse(c, 'invalid_path', 'no such session', CLOSE.authFailed);
    c.authTimer = setTimeout(() => this.refuse(c, 'auth_timeout', 'authenticate within 10 seconds', CLOSE.authTimeout), AUTH_TIMEOUT_MS);
    c.authTimer.unref();
    let queue = Promise.resolve();
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (c.closing) return;
      if (!c.bucket.take(this.ctx.now())) return this.send(c, { type: 'error', code: 'rate_limited', message: 'too many frames; slow down' });
      queue = queue.then(() => this.onMessage(c, data, isBinary)).catch((err: unknown) => {
        process.stderr.write(`watch: a frame could not be handled: ${String((err as Error)?.message ?? err)}\n`);
        this.refuse(c, 'internal', 'the broker could not handle that frame', 1011);
      });
    });
    this.send(c, { type: 'challenge', nonce: c.nonce });
  }

  private async onMessage(c: WatchConn, data: Buffer, isBinary: boolean): Promise<void> {
    if (c.closing) return;
    if (isBinary) return this.refuse(c, 'binary_frame', 'binary frames are not accepted', CLOSE.badFrame);
    if (data.length > MAX_SIGNALING_FRAME_BYTES) return this.refuse(c, 'frame_too_large', 'frames are limited to 64 KiB', CLOSE.tooBig);
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString('utf8'));
    } catch {
      return this.refuse(c, 'invalid_json', 'frames must be JSON text', CLOSE.badFrame);
    }
    const parsed = WatchClientFrameSchema.safeParse(raw);
    if (!parsed.success) return this.refuse(c, 'invalid_frame', 'that frame is not part of the watch protocol', CLOSE.badFrame);
    const f = parsed.data;
    c.lastSeen = this.ctx.now();
    switch (f.type) {
      case 'auth':
        if (c.watcherId) return this.send(c, { type: 'error', code: 'not_allowed', message: 'already authenticated' });
        return this.authenticate(c, f.token, f.proof);
      case 'heartbeat':
        if (!c.watcherId) return this.refuse(c, 'auth_required', 'the first frame must be auth', CLOSE.authFailed);
        return;
      default:
        return missingCase(f);
    }
  }

  private async authenticate(c: WatchConn, token: string, proof: string): Promise<void> {
    const now = this.ctx.now();
    let claims;
    let jkt: string;
    try {
      claims = await this.ctx.tokens.verify('watch', token);
      jkt = (await verifyNonceProof(proof, c.nonce, token, now)).jkt;
    } catch (e) {
      if (e instanceof TokenError) return this.refuse(c, e.code, e.message, CLOSE.authFailed);
      throw e;
    }
    const cnf = claims.cnf as { jkt?: unknown } | undefined;
    if (!cnf || cnf.jkt !== jkt) return this.refuse(c, 'bad_proof', 'the proof was made with another key than the ticket is bound to', CLOSE.authFailed);
    if (claims.sid !== c.sid || typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return this.refuse(c, 'wrong_session', 'this ticket is for another session', CLOSE.authFailed);
    let joined;
    try {
      joined = await this.ctx.sessions.joinWatch({ sid: c.sid, username: claims.sub, jti: claims.jti, exp: claims.exp }, c.source);
    } catch (e) {
      if (e instanceof DomainError) return this.refuse(c, e.code, e.message, CLOSE.authFailed);
      throw e;
    }
    if (c.authTimer) clearTimeout(c.authTimer);
    c.watcherId = joined.watcher.id;
    c.username = joined.watcher.username;
    if (c.ws.readyState !== c.ws.OPEN) return void this.leave(c, 'closed');
    const live = joined.live;
    const v = await this.ctx.sessions.watchView(live);
    c.picture = await this.ctx.sessions.isRecording(c.sid);
    if (c.left || live.state !== 'active') return this.closeConn(c, CLOSE.sessionEnded, 'session ended');
    this.send(c, {
      type: 'watch.ready',
      session_id: c.sid,
      watcher_id: joined.watcher.id,
      counts: joined.watcher.counts,
      picture: c.picture,
      expires_at: live.expiresAt ?? 0,
      present: v.present,
      watchers_needed: v.watchers_needed,
      control: v.control,
      grants: [...live.granted],
    });
    // Pushes reach it from here on, after its ready; chunks stored meanwhile are read by the pump.
    const set = this.bySession.get(c.sid) ?? new Set();
    set.add(c);
    this.bySession.set(c.sid, set);
    if (c.picture) void this.pump(c);
  }

  // ---------- the picture

  /**
   * Sends stored chunks in order, reading them from the store. On joining, the backlog is chunk 0
   * (the WebM header with the tracks) and the newest stored chunk only: the recorder starts every
   * chunk with a key frame, so that is enough for a picture at once, and a late watcher of a long
   * session is not sent all of it. After that, every chunk from `nextSeq` on.
   */
  private async pump(c: WatchConn): Promise<void> {
    if (c.pumping) {
      c.again = true;
      return;
    }
    c.pumping = true;
    try {
      do {
        c.again = false;
        let rows = await this.ctx.sessions.storedChunks(c.sid, c.nextSeq);
        if (!c.caughtUp && c.nextSeq === 0 && rows.length > 2) rows = [rows[0]!, rows[rows.length - 1]!];
        for (const r of rows) {
          if (c.closing) break;
          if (r.seq < c.nextSeq) continue;
          const bytes = await this.ctx.sessions.chunkBytes(c.sid, r.seq, r.sha256);
          if (!bytes) break;
          this.sendChunk(c, r.seq, bytes, c.caughtUp);
        }
      } while (c.again && !c.closing);
    } catch (err) {
      if (!c.closing) process.stderr.write(`watch: could not read the recording of ${c.sid}: ${String((err as Error)?.message ?? err)}\n`);
    } finally {
      c.pumping = false;
      c.caughtUp = true;
    }
  }

  private sendChunk(c: WatchConn, seq: number, bytes: Buffer, live: boolean): void {
    if (c.closing || c.ws.readyState !== c.ws.OPEN) return;
    if (c.ws.bufferedAmount > MAX_WATCHER_BACKLOG_BYTES) return this.closeConn(c, TRY_AGAIN_LATER, 'too far behind; watch again');
    c.ws.send(JSON.stringify({ type: 'chunk', seq, bytes: bytes.length, live } satisfies WatchBrokerFrame));
    c.ws.send(bytes, { binary: true });
    c.nextSeq = seq + 1;
  }

  chunkStored(s: LiveSession, seq: number, bytes: Buffer): void {
    for (const c of this.bySession.get(s.id) ?? []) {
      if (!c.picture || c.closing) continue;
      // The common case goes straight out from memory; a watcher still catching up (or one that
      // missed one) reads from the store in order.
      if (!c.pumping && c.caughtUp && seq === c.nextSeq) this.sendChunk(c, seq, bytes, true);
      else if (seq >= c.nextSeq) void this.pump(c);
    }
  }

  // ---------- pushes from the lifecycle (through SignalingHub)

  toWatchers(sid: string, f: WatchBrokerFrame): void {
    for (const c of this.bySession.get(sid) ?? []) this.send(c, f);
  }

  ended(s: LiveSession, reason: EndReason): void {
    const set = this.bySession.get(s.id);
    this.bySession.delete(s.id);
    for (const c of set ?? []) {
      this.send(c, { type: 'session.ended', reason, ...(s.endNote ? { note: s.endNote } : {}) });
      void this.leave(c, 'ended', s);
      this.closeConn(c, CLOSE.sessionEnded, `session ended: ${reason}`);
    }
  }

  // ---------- leaving

  private async leave(c: WatchConn, why: LeaveWhy, ended?: LiveSession): Promise<void> {
    if (c.left || !c.watcherId) return;
    c.left = true;
    this.bySession.get(c.sid)?.delete(c);
    if (this.bySession.get(c.sid)?.size === 0) this.bySession.delete(c.sid);
    await this.ctx.sessions.leaveWatch(c.sid, c.watcherId, why, c.source, ended).catch((err: unknown) => {
      if (!(err instanceof DomainError)) process.stderr.write(`watch: a leave could not be recorded: ${String((err as Error)?.message ?? err)}\n`);
    });
  }

  private async onClose(c: WatchConn): Promise<void> {
    c.closing = true;
    if (c.authTimer) clearTimeout(c.authTimer);
    await this.leave(c, 'closed');
  }

  private checkHeartbeats(): void {
    const now = this.ctx.now();
    const timeout = this.ctx.cfg.policy.heartbeat_timeout_seconds * 1000;
    for (const set of this.bySession.values()) {
      for (const c of [...set]) {
        if (now - c.lastSeen <= timeout) continue;
        void this.leave(c, 'lapsed');
        this.closeConn(c, CLOSE.watchLapsed, 'no heartbeat');
      }
    }
  }

  private send(c: WatchConn, f: WatchBrokerFrame): void {
    if (!c.closing && c.ws.readyState === c.ws.OPEN) c.ws.send(JSON.stringify(f));
  }

  private refuse(c: WatchConn, code: string, message: string, closeCode: number): void {
    this.ctx.metrics.framesRefused({ code });
    const actor = c.username ? `account:${c.username}` : 'anonymous';
    const key = sourceRefusalKey('signaling.frame_refused', c.source);
    void this.ctx.audit.refused({ type: 'signaling.frame_refused', outcome: 'denied', actor, source: c.source, session_id: c.watcherId ? c.sid : null, ticket: null, meta: { code, closed: true, socket: 'watch' } }, key);
    this.send(c, { type: 'error', code, message });
    this.closeConn(c, closeCode, code);
  }

  private closeConn(c: WatchConn, code: number, reason: string): void {
    c.closing = true;
    if (c.ws.readyState === c.ws.OPEN || c.ws.readyState === c.ws.CONNECTING) c.ws.close(code, reason);
  }
}
