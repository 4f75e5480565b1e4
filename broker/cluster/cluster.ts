import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import type { SessionRole } from '../../common/roles.js';
import { DomainError, type DomainErrorKind } from '../domain-errors.js';
import {
  BroadcastMessageSchema,
  NodeMessageSchema,
  SessionMessageSchema,
  parseMessage,
  type BroadcastMessage,
  type NodeMessage,
  type SessionMessage,
} from './messages.js';

/** How long the socket registry remembers a socket without its holder renewing it. */
export const SOCKET_TTL_MS = 10_000;
/** A session's timer lease lapses this long after its holder last renewed it. */
export const LEASE_TTL_MS = 3000;
/** How often leases are renewed, sockets re-registered and missing leases looked for. */
export const TICK_MS = 1000;
/** How long a lifecycle step waits for the instance holding the session to answer. */
const OP_TIMEOUT_MS = 5000;

/** What an instance does with what the others tell it (the broker's composition root wires it). */
export interface ClusterHandlers {
  session(sid: string, m: SessionMessage): void;
  /** A lifecycle step sent by another instance to this one, the session's lease holder. */
  op(sid: string, body: unknown): Promise<void>;
  /** This instance now holds the session's lease (takeover: its previous holder went silent). */
  leaseWon(sid: string, takeover: boolean): Promise<void>;
  leaseLost(sid: string): void;
  /** The session's row changed elsewhere while this instance holds its lease. */
  changed(sid: string): void;
  ended(sid: string, reason: string): void;
  /** Sessions not ended in the store: those without a lease holder are taken over. */
  notEnded(): Promise<string[]>;
  /** The sockets held here whose client is still heard from (they stay in the registry). */
  heldSockets(): { sid: string; role: string }[];
  /** Redis came back after an outage: what was said meanwhile may be lost, so check the store. */
  reconnected(): void;
}

// Renew or delete a key only while it still names this instance.
// A lease that is gone altogether (Redis restarted empty) is taken back by its holder rather
// than lost: its timers are running here, and nobody else has claimed it.
const RENEW_IF_MINE =
  "local v = redis.call('get', KEYS[1]) if v == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) elseif not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 else return 0 end";
const DELETE_IF_MINE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
// A socket closed: forgotten, and its peer's instance told, in one round trip, only while the
// registry still names this instance (a newer socket elsewhere has replaced it otherwise).
const FORGET_SOCKET_IF_MINE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) redis.call('publish', ARGV[2], ARGV[3]) return 1 else return 0 end";
// Claims a free lease (as SET NX would), or tells its holder to re-arm from the store, in one
// round trip: 1 won, 0 someone holds it (told, unless it is this instance).
const CLAIM_OR_TELL_HOLDER =
  "local v = redis.call('get', KEYS[1]) if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end if v ~= ARGV[1] then redis.call('publish', ARGV[3] .. v, ARGV[4]) end return 0";

/** The scripts Cluster defines on its command connection (ioredis runs them by their hash). */
interface RedisWithScripts extends Redis {
  forgetSocketIfMine(key: string, nodeId: string, channel: string, message: string): Promise<number>;
  claimOrTellHolder(key: string, nodeId: string, ttlMs: string, nodeChannelPrefix: string, message: string): Promise<number>;
}

/**
 * One broker's seat in a cluster: a registry of which instance holds which signaling socket and
 * which runs which session's timers (Redis keys with a TTL its holder renews), and pub/sub
 * between the instances: a channel per session for its sockets' holders, one per instance for
 * steps and re-arms sent to a lease holder, one for everyone (ends). Redis carries only what
 * must be shared live; PostgreSQL stays the truth.
 */
export class Cluster {
  readonly nodeId: string;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private handlers: ClusterHandlers | null = null;
  private readonly owned = new Set<string>();
  private readonly joined = new Map<string, number>();
  private readonly waiting = new Map<string, { resolve: () => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }>();
  /** Steps for one session run one after another on the holder, in the order they arrived. */
  private readonly opChains = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private wasReady = false;
  private lost = false;
  private closed = false;

  constructor(
    url: string,
    private readonly prefix: string,
    nodeId?: string,
  ) {
    this.nodeId = nodeId ?? `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    // Fail fast while Redis is away (no queue of stale commands): callers fail closed, and what
    // was missed is reconciled from the store when it returns.
    const opts = { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, retryStrategy: (n: number) => Math.min(200 * n, 1000) };
    this.pub = new Redis(url, opts);
    this.pub.defineCommand('forgetSocketIfMine', { numberOfKeys: 1, lua: FORGET_SOCKET_IF_MINE });
    this.pub.defineCommand('claimOrTellHolder', { numberOfKeys: 1, lua: CLAIM_OR_TELL_HOLDER });
    this.sub = new Redis(url, { ...opts, enableOfflineQueue: true });
    for (const r of [this.pub, this.sub]) {
      r.on('error', () => undefined);
      r.on('end', () => (this.lost = true));
      r.on('close', () => (this.lost = true));
    }
  }

  private key(...parts: string[]): string {
    return `${this.prefix}${parts.join(':')}`;
  }

  private get nodeChannel(): string {
    return this.key('node', this.nodeId);
  }

  /** Both connections up. */
  get ready(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready';
  }

  async start(h: ClusterHandlers): Promise<void> {
    this.handlers = h;
    try {
      await Promise.all([this.pub.connect(), this.sub.connect()]);
    } catch (e) {
      await this.close();
      throw new Error(`cluster mode: Redis (REDIS_URL) does not answer: ${(e as Error).message}`);
    }
    this.sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => this.onMessage(ch.toString(), msg.toString('utf8')));
    await this.sub.subscribe(this.nodeChannel, this.key('all'));
    this.wasReady = true;
    this.sub.on('ready', () => this.onReconnect());
    this.pub.on('ready', () => this.onReconnect());
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
    await this.tick();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new DomainError('unavailable', 'broker_closing', 'the broker is shutting down'));
    }
    this.waiting.clear();
    // Leases are handed back so another instance takes the timers at once, not after the TTL.
    if (this.ready) await Promise.all([...this.owned].map((sid) => this.pub.eval(DELETE_IF_MINE, 1, this.key('lease', sid), this.nodeId).catch(() => undefined)));
    this.owned.clear();
    this.pub.disconnect();
    this.sub.disconnect();
  }

  /** New sessions need the cluster (their sockets and timers are shared through Redis): refused clearly while it is away. */
  mustBeReady(): void {
    if (!this.ready) {
      throw new DomainError('unavailable', 'cluster_unavailable', 'the broker cannot reach Redis, which its cluster shares live state through: new sessions cannot start until it is back (sessions already running go on)');
    }
  }

  async ping(): Promise<boolean> {
    if (!this.ready) return false;
    try {
      return (await this.pub.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  private onReconnect(): void {
    if (!this.wasReady || this.closed || !this.ready || !this.lost) return;
    this.lost = false;
    this.handlers?.reconnected();
  }

  // ---------- sockets

  /**
   * A socket of `role` authenticated here: registered, the session's other instances told (an
   * older socket of that side elsewhere is replaced, a peer there hears it is online), and
   * whether the peer's socket is registered anywhere. One round trip (a pipeline, run in order).
   */
  async socketConnected(sid: string, role: SessionRole, peerRole: SessionRole): Promise<{ peerRegistered: boolean }> {
    const m: SessionMessage = { t: 'connected', role, node: this.nodeId };
    const res = await this.pub
      .pipeline()
      .set(this.key('sock', sid, role), this.nodeId, 'PX', SOCKET_TTL_MS)
      .publish(this.key('s', sid), JSON.stringify(m))
      .get(this.key('sock', sid, peerRole))
      .exec();
    if (!res) throw new Error('cluster: Redis did not run the socket registration');
    for (const [err] of res) if (err) throw err;
    return { peerRegistered: res[2]![1] !== null };
  }

  /**
   * The socket of `role` closed here: forgotten and its peer's instance told, if the registry
   * still names this instance for it (a newer socket elsewhere has replaced it otherwise).
   */
  async socketClosed(sid: string, role: SessionRole): Promise<boolean> {
    const m: SessionMessage = { t: 'disconnected', role, node: this.nodeId };
    return Number(await (this.pub as RedisWithScripts).forgetSocketIfMine(this.key('sock', sid, role), this.nodeId, this.key('s', sid), JSON.stringify(m))) === 1;
  }

  /** The instance holding the socket of `role` in each session, if any is registered (one round trip per 500). */
  async holders(sids: string[], role: SessionRole): Promise<(string | null)[]> {
    const out: (string | null)[] = [];
    for (let i = 0; i < sids.length; i += 500) out.push(...(await this.pub.mget(...sids.slice(i, i + 500).map((sid) => this.key('sock', sid, role)))));
    return out;
  }

  /** Hear the session's channel (while this instance holds one of its sockets). */
  async joinSession(sid: string): Promise<void> {
    const n = this.joined.get(sid) ?? 0;
    this.joined.set(sid, n + 1);
    if (n === 0) await this.sub.subscribe(this.key('s', sid));
  }

  leaveSession(sid: string): void {
    const n = (this.joined.get(sid) ?? 0) - 1;
    if (n > 0) return void this.joined.set(sid, n);
    this.joined.delete(sid);
    this.sub.unsubscribe(this.key('s', sid)).catch(() => undefined);
  }

  /** Returns how many instances heard it (this one included when it holds a socket of the session). */
  async toSession(sid: string, m: SessionMessage): Promise<number> {
    return this.pub.publish(this.key('s', sid), JSON.stringify(m));
  }

  // ---------- leases

  get leaseCount(): number {
    return this.owned.size;
  }

  owns(sid: string): boolean {
    return this.owned.has(sid);
  }

  /** Claims the session's lease if nobody holds it; otherwise asks its holder to re-arm. */
  place(sid: string): void {
    void (async () => {
      const changed: NodeMessage = { t: 'changed', sid };
      const won = Number(await (this.pub as RedisWithScripts).claimOrTellHolder(this.key('lease', sid), this.nodeId, String(LEASE_TTL_MS), this.key('node', ''), JSON.stringify(changed))) === 1;
      if (!won) return;
      this.owned.add(sid);
      await this.handlers?.leaseWon(sid, false);
    })().catch((e: unknown) => process.stderr.write(`cluster: could not place the timers of session ${sid}: ${String((e as Error)?.message ?? e)}\n`));
  }

  private async claim(sid: string): Promise<boolean> {
    const won = (await this.pub.set(this.key('lease', sid), this.nodeId, 'PX', LEASE_TTL_MS, 'NX')) === 'OK';
    if (won) this.owned.add(sid);
    return won;
  }

  /** The session ended here: every instance hears it. */
  ended(sid: string, reason: string): void {
    this.owned.delete(sid);
    const m: BroadcastMessage = { t: 'ended', sid, reason };
    // One round trip, in this order: everyone hears the end before the lease goes.
    this.pub
      .pipeline()
      .publish(this.key('all'), JSON.stringify(m))
      .del(this.key('lease', sid))
      .exec()
      // Redis away: every instance checks its sessions against the store when it returns.
      .catch(() => undefined);
  }

  /**
   * Runs a lifecycle step on the instance holding the session's lease: here if this one does (or
   * nobody does and this one wins it), otherwise there, waiting for its answer. A refusal there
   * comes back as the same DomainError.
   */
  async onHolder(sid: string, body: unknown, local: () => Promise<void>): Promise<void> {
    if (this.owned.has(sid)) return local();
    let holder = await this.pub.get(this.key('lease', sid));
    if (!holder) {
      if (await this.claim(sid)) {
        await this.handlers?.leaseWon(sid, true);
        return local();
      }
      holder = await this.pub.get(this.key('lease', sid));
    }
    if (!holder || holder === this.nodeId) return local();
    const id = crypto.randomUUID();
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new DomainError('unavailable', 'instance_unavailable', 'the broker instance holding this session did not answer; try again in a few seconds'));
      }, OP_TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
    });
    const heard = await this.toNode(holder, { t: 'op', id, from: this.nodeId, sid, body });
    if (heard === 0) {
      const w = this.waiting.get(id);
      if (w) clearTimeout(w.timer);
      this.waiting.delete(id);
      throw new DomainError('unavailable', 'instance_unavailable', 'the broker instance holding this session is gone; another takes it over within a few seconds, try again then');
    }
    return answered;
  }

  private toNode(node: string, m: NodeMessage): Promise<number> {
    return this.pub.publish(this.key('node', node), JSON.stringify(m));
  }

  // ---------- incoming

  private onMessage(channel: string, text: string): void {
    const h = this.handlers;
    if (!h || this.closed) return;
    if (channel === this.nodeChannel) {
      const m = parseMessage(NodeMessageSchema, text);
      if (m) this.onNodeMessage(m);
      return;
    }
    if (channel === this.key('all')) {
      const m = parseMessage(BroadcastMessageSchema, text);
      if (m?.t === 'ended') {
        this.owned.delete(m.sid);
        h.ended(m.sid, m.reason);
      }
      return;
    }
    const sessionPrefix = this.key('s', '');
    if (channel.startsWith(sessionPrefix)) {
      const m = parseMessage(SessionMessageSchema, text);
      if (m) h.session(channel.slice(sessionPrefix.length), m);
    }
  }

  private onNodeMessage(m: NodeMessage): void {
    const h = this.handlers!;
    switch (m.t) {
      case 'op': {
        const prev = this.opChains.get(m.sid) ?? Promise.resolve();
        const next = prev
          .then(() => h.op(m.sid, m.body))
          .then(
            () => this.toNode(m.from, { t: 'reply', id: m.id }),
            (e: unknown) => {
              const err = e instanceof DomainError ? { kind: e.kind, code: e.code, message: e.message } : { kind: 'unavailable', code: 'internal', message: 'the broker could not handle that step' };
              if (!(e instanceof DomainError)) process.stderr.write(`cluster: a step failed: ${String((e as Error)?.message ?? e)}\n`);
              return this.toNode(m.from, { t: 'reply', id: m.id, error: err });
            },
          )
          .then(() => undefined)
          .catch(() => undefined);
        this.opChains.set(m.sid, next);
        void next.finally(() => {
          if (this.opChains.get(m.sid) === next) this.opChains.delete(m.sid);
        });
        return;
      }
      case 'reply': {
        const w = this.waiting.get(m.id);
        if (!w) return;
        clearTimeout(w.timer);
        this.waiting.delete(m.id);
        if (m.error) w.reject(new DomainError(m.error.kind as DomainErrorKind, m.error.code, m.error.message));
        else w.resolve();
        return;
      }
      case 'changed':
        if (this.owned.has(m.sid)) h.changed(m.sid);
        return;
      default:
        m satisfies never;
    }
  }

  // ---------- the beat

  private async tick(): Promise<void> {
    if (this.ticking || this.closed || !this.ready || !this.handlers) return;
    this.ticking = true;
    try {
      const h = this.handlers;
      const p = this.pub.pipeline();
      p.set(this.key('alive', this.nodeId), String(Date.now()), 'PX', LEASE_TTL_MS);
      const owned = [...this.owned];
      for (const sid of owned) p.eval(RENEW_IF_MINE, 1, this.key('lease', sid), this.nodeId, String(LEASE_TTL_MS));
      for (const s of h.heldSockets()) p.set(this.key('sock', s.sid, s.role), this.nodeId, 'PX', SOCKET_TTL_MS);
      const res = (await p.exec()) ?? [];
      owned.forEach((sid, i) => {
        const [err, n] = res[i + 1] ?? [null, 1];
        // Only a clear "not yours" gives a lease up; an error keeps the timers running here.
        if (!err && Number(n) === 0 && this.owned.delete(sid)) h.leaseLost(sid);
      });
      await this.takeOver(h);
    } catch {
      // Redis away: nothing can be renewed or taken over; the timers held here keep running.
    } finally {
      this.ticking = false;
    }
  }

  /** Sessions whose lease lapsed (their holder died) are taken by whoever claims them first. */
  private async takeOver(h: ClusterHandlers): Promise<void> {
    const ids = (await h.notEnded()).filter((sid) => !this.owned.has(sid));
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const holders = await this.pub.mget(...chunk.map((sid) => this.key('lease', sid)));
      for (let j = 0; j < chunk.length; j++) {
        const sid = chunk[j]!;
        if (holders[j] || !(await this.claim(sid))) continue;
        await h.leaseWon(sid, true).catch((e: unknown) => process.stderr.write(`cluster: taking over session ${sid} failed: ${String((e as Error)?.message ?? e)}\n`));
      }
    }
  }
}
