import { LOCAL_GRANTS } from '../common/protocol/signaling.js';
import type { Clock } from './clock.js';

export type GrantKind = (typeof LOCAL_GRANTS)[number];

export interface GrantRecord {
  readonly sessionId: string;
  readonly kind: GrantKind;
  readonly grantedAt: number;
  readonly expiresAt: number;
}

/**
 * `revoking`: dropped, its revoke function still running. `unconfirmed`: its revoke function threw,
 * so the resource may still be held; it stays in the journal for the next start to revoke again.
 */
export type JournalState = 'live' | 'revoking' | 'unconfirmed';
export interface JournalEntry extends GrantRecord {
  readonly state: JournalState;
}

export type JournalLoad = { ok: true; entries: JournalEntry[] } | { ok: false; why: string };

/**
 * Where the registry records every grant that may still hold a resource. `save` is synchronous on
 * purpose: a grant is not handed out until it is on disk, so a crash right after `acquire` still
 * leaves a record for the next start to revoke.
 */
export interface GrantJournal {
  load(): JournalLoad;
  save(entries: readonly JournalEntry[]): void;
}

export type RevokeReason = 'user' | 'expired' | 'teardown';

export type AcquireRefusal =
  | 'no_user_action'
  | 'unknown_session'
  | 'session_ended'
  | 'session_expired'
  | 'other_session'
  | 'already_granted'
  | 'bad_expiry'
  | 'journal_failed';

export type AcquireResult = { ok: true; grant: GrantRecord } | { ok: false; reason: AcquireRefusal };

export interface AcquireOptions {
  /** Set only by code that handled the end user's own click or key press on a consent prompt. */
  userAction: boolean;
  expiresAt: number;
  /** Releases the resource. Should tolerate a resource that was never started (crash recovery calls it blind). */
  revoke: () => Promise<void> | void;
}

export type RevokedListener = (grant: GrantRecord, reason: RevokeReason) => void;

export interface GrantRegistryOptions {
  clock: Clock;
  journal: GrantJournal;
  /** Told when a revoke function throws or the journal cannot be written while revoking. */
  onError?: (err: unknown, grant?: GrantRecord) => void;
}

interface Live {
  record: GrantRecord;
  readonly revoke: () => Promise<void> | void;
  cancelTimer: () => void;
}

interface Revoking {
  readonly record: GrantRecord;
  done: Promise<void>;
}

/**
 * The local grants of the end user's machine: capture, control, clipboard, files. Only one session
 * holds grants at a time, at most one grant per kind, and every grant ends no later than its
 * session. Everything fails closed: a grant past its expiry is inactive before its timer fires, and
 * a grant whose revoke function throws is dropped all the same (and left in the journal).
 */
export class GrantRegistry {
  private readonly clock: Clock;
  private readonly journal: GrantJournal;
  private readonly onError: (err: unknown, grant?: GrantRecord) => void;
  private readonly sessions = new Map<string, { expiresAt: number; ended: boolean }>();
  private readonly live = new Map<GrantKind, Live>();
  private readonly revoking = new Set<Revoking>();
  private readonly unconfirmed: GrantRecord[] = [];
  private readonly listeners = new Set<RevokedListener>();

  constructor(opts: GrantRegistryOptions) {
    this.clock = opts.clock;
    this.journal = opts.journal;
    this.onError = opts.onError ?? (() => {});
    // Saving over a journal that still lists grants from a crashed run would forget them for good.
    const loaded = this.journal.load();
    if (!loaded.ok || loaded.entries.length > 0) {
      throw new Error(
        `the grant journal ${loaded.ok ? `still lists ${loaded.entries.length} grant(s)` : `is unreadable (${loaded.why})`} from a previous run: call recoverAfterCrash before creating the registry`,
      );
    }
  }

  /** Registers a session and its end, as the broker decided it. */
  openSession(sessionId: string, expiresAt: number): void {
    const s = this.sessions.get(sessionId);
    if (s?.ended) throw new Error(`session ${sessionId} has ended and cannot be reopened`);
    if (s) return this.setSessionExpiry(sessionId, expiresAt);
    this.sessions.set(sessionId, { expiresAt, ended: false });
  }

  /**
   * Moves the session's end. A shorter end pulls every grant's expiry in with it. A longer one does
   * not stretch existing grants: the end user agreed to them for the time shown, so they re-grant.
   */
  setSessionExpiry(sessionId: string, expiresAt: number): void {
    const s = this.sessions.get(sessionId);
    if (!s || s.ended) return;
    s.expiresAt = expiresAt;
    let changed = false;
    for (const l of [...this.live.values()]) {
      if (l.record.sessionId !== sessionId || l.record.expiresAt <= expiresAt) continue;
      if (expiresAt <= this.clock.now()) {
        void this.drop(l, 'expired');
        continue;
      }
      l.cancelTimer();
      l.record = { ...l.record, expiresAt };
      this.arm(l);
      changed = true;
    }
    if (changed) this.persistQuietly();
  }

  /**
   * The end user agreed to more time (an extension receipt made on this machine): the session
   * and the grants it holds now run to the new end. Never shortens; setSessionExpiry does that.
   */
  extendSession(sessionId: string, expiresAt: number): void {
    const s = this.sessions.get(sessionId);
    if (!s || s.ended || !Number.isFinite(expiresAt) || expiresAt <= this.clock.now()) return;
    if (expiresAt > s.expiresAt) s.expiresAt = expiresAt;
    let changed = false;
    for (const l of this.live.values()) {
      if (l.record.sessionId !== sessionId || l.record.expiresAt >= s.expiresAt) continue;
      l.cancelTimer();
      l.record = { ...l.record, expiresAt: s.expiresAt };
      this.arm(l);
      changed = true;
    }
    if (changed) this.persistQuietly();
  }

  acquire(sessionId: string, kind: GrantKind, opts: AcquireOptions): AcquireResult {
    if (opts.userAction !== true) return { ok: false, reason: 'no_user_action' };
    const s = this.sessions.get(sessionId);
    if (!s) return { ok: false, reason: 'unknown_session' };
    if (s.ended) return { ok: false, reason: 'session_ended' };
    const now = this.clock.now();
    if (now >= s.expiresAt) return { ok: false, reason: 'session_expired' };
    // A grant past its expiry whose timer is late is already inactive; finish it before judging.
    for (const l of [...this.live.values()]) if (l.record.expiresAt <= now) void this.drop(l, 'expired');
    for (const l of this.live.values()) if (l.record.sessionId !== sessionId) return { ok: false, reason: 'other_session' };
    // A previous session's resources are not released until its revoke functions have finished.
    for (const r of this.revoking) if (r.record.sessionId !== sessionId) return { ok: false, reason: 'other_session' };
    if (this.live.has(kind)) return { ok: false, reason: 'already_granted' };
    if (!Number.isFinite(opts.expiresAt) || opts.expiresAt <= now) return { ok: false, reason: 'bad_expiry' };

    const record: GrantRecord = { sessionId, kind, grantedAt: now, expiresAt: Math.min(opts.expiresAt, s.expiresAt) };
    const l: Live = { record, revoke: opts.revoke, cancelTimer: () => {} };
    this.live.set(kind, l);
    try {
      this.persist();
    } catch {
      // A grant the next start could not find after a crash is one it could not revoke.
      this.live.delete(kind);
      return { ok: false, reason: 'journal_failed' };
    }
    this.arm(l);
    return { ok: true, grant: record };
  }

  /** Fail closed: false past the expiry even when the timer has not fired yet. */
  isActive(kind: GrantKind, sessionId: string): boolean {
    const l = this.live.get(kind);
    if (!l || l.record.sessionId !== sessionId) return false;
    if (this.sessions.get(sessionId)?.ended !== false) return false;
    return this.clock.now() < l.record.expiresAt;
  }

  /** Live grants, for the banner and for reports. */
  grants(): GrantRecord[] {
    return [...this.live.values()].map((l) => l.record);
  }

  /** The end user takes one grant back (or the analyst gives it up). Resolves once its revoke function has run. */
  async revoke(kind: GrantKind, reason: RevokeReason = 'user'): Promise<boolean> {
    const l = this.live.get(kind);
    if (!l) return false;
    await this.drop(l, reason);
    return true;
  }

  /**
   * Ends the session locally: no grant can be acquired for it again, every live grant is revoked,
   * and the promise settles only when every revoke function for the session has finished (including
   * ones already running, say from an expiry). Returns the kinds this call dropped, so a second call
   * returns [].
   */
  async revokeAll(sessionId: string): Promise<GrantKind[]> {
    const s = this.sessions.get(sessionId);
    if (s) s.ended = true;
    else this.sessions.set(sessionId, { expiresAt: 0, ended: true });
    const mine = [...this.live.values()].filter((l) => l.record.sessionId === sessionId);
    const dropped = mine.map((l) => l.record.kind);
    for (const l of mine) void this.drop(l, 'teardown');
    await Promise.all([...this.revoking].filter((r) => r.record.sessionId === sessionId).map((r) => r.done));
    return dropped;
  }

  /** Told synchronously when a grant stops being active, before its revoke function runs. */
  onRevoked(fn: RevokedListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private arm(l: Live): void {
    l.cancelTimer = this.clock.at(l.record.expiresAt, () => {
      if (this.live.get(l.record.kind) === l) void this.drop(l, 'expired');
    });
  }

  private drop(l: Live, reason: RevokeReason): Promise<void> {
    const { record } = l;
    this.live.delete(record.kind);
    l.cancelTimer();
    const entry: Revoking = { record, done: Promise.resolve() };
    this.revoking.add(entry);
    entry.done = (async () => {
      // Listeners hear of the drop before the resource goes (the input gate releases held keys
      // before control's revoke function closes the injector).
      await Promise.resolve();
      let confirmed = false;
      try {
        await l.revoke();
        confirmed = true;
      } catch (err) {
        this.onError(err, record);
      } finally {
        this.revoking.delete(entry);
        if (!confirmed) this.unconfirmed.push(record);
        this.persistQuietly();
      }
    })();
    this.persistQuietly();
    for (const fn of this.listeners) {
      try {
        fn(record, reason);
      } catch (err) {
        this.onError(err, record);
      }
    }
    return entry.done;
  }

  private entries(): JournalEntry[] {
    return [
      ...[...this.live.values()].map((l) => ({ ...l.record, state: 'live' as const })),
      ...[...this.revoking].map((r) => ({ ...r.record, state: 'revoking' as const })),
      ...this.unconfirmed.map((r) => ({ ...r, state: 'unconfirmed' as const })),
    ];
  }

  private persist(): void {
    this.journal.save(this.entries());
  }

  private persistQuietly(): void {
    try {
      this.persist();
    } catch (err) {
      // Revocation goes ahead regardless; a stale journal only makes the next start revoke more.
      this.onError(err);
    }
  }
}
