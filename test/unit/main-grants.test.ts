import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../main/clock.js';
import { FileGrantJournal } from '../../main/grant-journal.js';
import { GrantRegistry, type GrantKind, type GrantRecord, type RevokeReason } from '../../main/grants.js';

/**
 * A clock whose time and timers the test moves separately, so it can show a grant is inactive the
 * moment its expiry passes even when its timer has not fired (a test double of the Clock port).
 */
class SteppedClock implements Clock {
  t = 1_700_000_000_000;
  private timers: { when: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  at(when: number, fn: () => void): () => void {
    const timer = { when, fn, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  pending(): number {
    return this.timers.filter((x) => x.live).length;
  }
  /** Runs the timers that are due. */
  fire(): void {
    for (const x of this.timers.filter((x) => x.live && x.when <= this.t).sort((a, b) => a.when - b.when)) {
      x.live = false;
      x.fn();
    }
  }
}

const MIN = 60_000;
const settle = () => new Promise((r) => setImmediate(r));

describe('GrantRegistry', () => {
  let dir: string;
  let file: string;
  let clock: SteppedClock;
  let registry: GrantRegistry;
  let revoked: string[];
  let events: { kind: GrantKind; reason: RevokeReason }[];
  let errors: unknown[];

  const revokeFn = (tag: string) => () => {
    revoked.push(tag);
  };
  const journalOnDisk = () => (JSON.parse(fs.readFileSync(file, 'utf8')) as { grants: (GrantRecord & { state: string })[] }).grants;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-grants-'));
    file = path.join(dir, 'state', 'grants.json');
    clock = new SteppedClock();
    revoked = [];
    events = [];
    errors = [];
    registry = new GrantRegistry({ clock, journal: new FileGrantJournal(file), onError: (e) => errors.push(e) });
    registry.onRevoked((g, reason) => events.push({ kind: g.kind, reason }));
    registry.openSession('s1', clock.t + 30 * MIN);
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a grant without an explicit user action', () => {
    for (const userAction of [false, undefined, 'yes', 1]) {
      const r = registry.acquire('s1', 'control', { userAction: userAction as boolean, expiresAt: clock.t + MIN, revoke: revokeFn('x') });
      expect(r).toEqual({ ok: false, reason: 'no_user_action' });
    }
    expect(registry.isActive('control', 's1')).toBe(false);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('refuses unknown, ended and expired sessions', () => {
    const opts = { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('x') };
    expect(registry.acquire('nope', 'capture', opts)).toEqual({ ok: false, reason: 'unknown_session' });
    registry.openSession('s-old', clock.t + 1000);
    clock.t += 1000;
    expect(registry.acquire('s-old', 'capture', opts)).toEqual({ ok: false, reason: 'session_expired' });
    void registry.revokeAll('s-old');
    expect(registry.acquire('s-old', 'capture', opts)).toEqual({ ok: false, reason: 'session_ended' });
    expect(() => registry.openSession('s-old', clock.t + MIN)).toThrow(/cannot be reopened/);
  });

  it('refuses a second grant of a kind, and expiries that are not in the future', () => {
    expect(registry.acquire('s1', 'files', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('a') }).ok).toBe(true);
    expect(registry.acquire('s1', 'files', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('b') })).toEqual({ ok: false, reason: 'already_granted' });
    for (const expiresAt of [clock.t, clock.t - 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(registry.acquire('s1', 'clipboard', { userAction: true, expiresAt, revoke: revokeFn('c') })).toEqual({ ok: false, reason: 'bad_expiry' });
    }
  });

  it('holds grants for one session at a time', async () => {
    registry.openSession('s2', clock.t + 30 * MIN);
    expect(registry.acquire('s1', 'capture', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('s1-capture') }).ok).toBe(true);
    expect(registry.acquire('s2', 'control', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('s2') })).toEqual({ ok: false, reason: 'other_session' });
    expect(await registry.revokeAll('s1')).toEqual(['capture']);
    expect(registry.acquire('s2', 'control', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('s2') }).ok).toBe(true);
  });

  it("refuses another session while the last one's revoke functions are still running", async () => {
    registry.openSession('s2', clock.t + 30 * MIN);
    let finish!: () => void;
    registry.acquire('s1', 'capture', { userAction: true, expiresAt: clock.t + MIN, revoke: () => new Promise<void>((r) => (finish = r)) });
    const teardown = registry.revokeAll('s1');
    await settle();
    expect(registry.acquire('s2', 'capture', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('s2') })).toEqual({ ok: false, reason: 'other_session' });
    finish();
    expect(await teardown).toEqual(['capture']);
    expect(registry.acquire('s2', 'capture', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('s2') }).ok).toBe(true);
  });

  it('caps a grant at the session end and revokes it there through the clock', async () => {
    const r = registry.acquire('s1', 'control', { userAction: true, expiresAt: clock.t + 120 * MIN, revoke: revokeFn('control') });
    expect(r.ok && r.grant.expiresAt).toBe(clock.t + 30 * MIN);
    clock.t += 30 * MIN - 1;
    clock.fire();
    expect(registry.isActive('control', 's1')).toBe(true);
    clock.t += 1;
    clock.fire();
    await settle();
    expect(registry.isActive('control', 's1')).toBe(false);
    expect(revoked).toEqual(['control']);
    expect(events).toEqual([{ kind: 'control', reason: 'expired' }]);
    expect(journalOnDisk()).toEqual([]);
  });

  it('is inactive past the expiry even before the timer fires (fail closed)', async () => {
    registry.acquire('s1', 'clipboard', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('clipboard') });
    expect(registry.isActive('clipboard', 's1')).toBe(true);
    expect(registry.isActive('clipboard', 's2')).toBe(false);
    expect(registry.isActive('files', 's1')).toBe(false);
    clock.t += MIN;
    expect(registry.isActive('clipboard', 's1')).toBe(false);
    expect(clock.pending()).toBe(1);
    // Taking it again works: the lapsed grant is finished off first, not counted as still held.
    expect(registry.acquire('s1', 'clipboard', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('clipboard-2') }).ok).toBe(true);
    await settle();
    expect(revoked).toEqual(['clipboard']);
    expect(events).toEqual([{ kind: 'clipboard', reason: 'expired' }]);
  });

  it('revokes one grant on request, telling listeners before the revoke function runs', async () => {
    const order: string[] = [];
    registry.onRevoked(() => order.push('listener'));
    registry.acquire('s1', 'control', { userAction: true, expiresAt: clock.t + MIN, revoke: () => void order.push('revoke') });
    registry.acquire('s1', 'capture', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('capture') });
    expect(await registry.revoke('control')).toBe(true);
    expect(order).toEqual(['listener', 'revoke']);
    expect(await registry.revoke('control')).toBe(false);
    expect(registry.isActive('control', 's1')).toBe(false);
    expect(registry.isActive('capture', 's1')).toBe(true);
    expect(events).toEqual([{ kind: 'control', reason: 'user' }]);
    expect(clock.pending()).toBe(1);
  });

  it('revokeAll drops every grant, reports them, and a second call reports nothing', async () => {
    for (const kind of ['capture', 'control', 'clipboard', 'files'] as const) {
      expect(registry.acquire('s1', kind, { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn(kind) }).ok).toBe(true);
    }
    expect(journalOnDisk().map((g) => [g.kind, g.state])).toEqual([
      ['capture', 'live'],
      ['control', 'live'],
      ['clipboard', 'live'],
      ['files', 'live'],
    ]);
    const [first, second] = await Promise.all([registry.revokeAll('s1'), registry.revokeAll('s1')]);
    expect(first.sort()).toEqual(['capture', 'clipboard', 'control', 'files']);
    expect(second).toEqual([]);
    expect(await registry.revokeAll('s1')).toEqual([]);
    expect(revoked.sort()).toEqual(['capture', 'clipboard', 'control', 'files']);
    expect(events.every((e) => e.reason === 'teardown')).toBe(true);
    expect(registry.grants()).toEqual([]);
    expect(journalOnDisk()).toEqual([]);
    expect(clock.pending()).toBe(0);
  });

  it('settles only after slow revoke functions, including one already running from an expiry', async () => {
    let finishCapture!: () => void;
    let captureDone = false;
    registry.acquire('s1', 'capture', {
      userAction: true,
      expiresAt: clock.t + 1000,
      revoke: () =>
        new Promise<void>((r) => {
          finishCapture = () => {
            captureDone = true;
            r();
          };
        }),
    });
    registry.acquire('s1', 'files', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('files') });
    clock.t += 1000;
    clock.fire();
    await settle();
    expect(journalOnDisk().map((g) => [g.kind, g.state])).toEqual([
      ['files', 'live'],
      ['capture', 'revoking'],
    ]);
    let settled = false;
    const teardown = registry.revokeAll('s1').then((r) => {
      settled = true;
      return r;
    });
    await settle();
    expect(settled).toBe(false);
    finishCapture();
    expect(await teardown).toEqual(['files']);
    expect(captureDone).toBe(true);
  });

  it('counts a grant whose revoke function throws as dropped, and keeps it journaled for the next start', async () => {
    registry.acquire('s1', 'capture', {
      userAction: true,
      expiresAt: clock.t + MIN,
      revoke: () => {
        throw new Error('capture stream would not stop');
      },
    });
    registry.acquire('s1', 'files', { userAction: true, expiresAt: clock.t + MIN, revoke: () => Promise.reject(new Error('EBUSY')) });
    registry.acquire('s1', 'control', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('control') });
    expect((await registry.revokeAll('s1')).sort()).toEqual(['capture', 'control', 'files']);
    expect(registry.isActive('capture', 's1')).toBe(false);
    expect(registry.grants()).toEqual([]);
    expect(errors.map((e) => (e as Error).message).sort()).toEqual(['EBUSY', 'capture stream would not stop']);
    expect(journalOnDisk().map((g) => [g.kind, g.state]).sort()).toEqual([
      ['capture', 'unconfirmed'],
      ['files', 'unconfirmed'],
    ]);
  });

  it('pulls grants in when the session end moves earlier, but never stretches them', async () => {
    registry.acquire('s1', 'control', { userAction: true, expiresAt: clock.t + 20 * MIN, revoke: revokeFn('control') });
    registry.acquire('s1', 'capture', { userAction: true, expiresAt: clock.t + 5 * MIN, revoke: revokeFn('capture') });
    registry.setSessionExpiry('s1', clock.t + 10 * MIN);
    expect(registry.grants().map((g) => [g.kind, g.expiresAt - clock.t])).toEqual([
      ['control', 10 * MIN],
      ['capture', 5 * MIN],
    ]);
    expect(journalOnDisk().find((g) => g.kind === 'control')?.expiresAt).toBe(clock.t + 10 * MIN);
    registry.setSessionExpiry('s1', clock.t + 60 * MIN);
    expect(registry.grants().find((g) => g.kind === 'control')?.expiresAt).toBe(clock.t + 10 * MIN);
    registry.setSessionExpiry('s1', clock.t);
    await settle();
    expect(registry.grants()).toEqual([]);
    expect(revoked.sort()).toEqual(['capture', 'control']);
  });

  it('stretches the grants to a later end only through extendSession (the end user agreed to more time)', async () => {
    registry.acquire('s1', 'capture', { userAction: true, expiresAt: clock.t + 30 * MIN, revoke: revokeFn('capture') });
    const before = registry.grants()[0]!.expiresAt;
    registry.extendSession('s1', before - MIN);
    expect(registry.grants()[0]!.expiresAt).toBe(before);
    registry.extendSession('s1', before + 15 * MIN);
    expect(registry.grants()[0]!.expiresAt).toBe(before + 15 * MIN);
    expect(journalOnDisk().find((g) => g.kind === 'capture')?.expiresAt).toBe(before + 15 * MIN);
    // The old end passes and the grant lives on; the new end drops it.
    clock.t = before + MIN;
    clock.fire();
    expect(registry.isActive('capture', 's1')).toBe(true);
    clock.t = before + 15 * MIN;
    clock.fire();
    await settle();
    expect(registry.grants()).toEqual([]);
    expect(revoked).toEqual(['capture']);
  });

  it('writes the journal with mode 0600 and refuses a grant it cannot journal', () => {
    registry.acquire('s1', 'capture', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('capture') });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    // The journal's directory turns into a file: every later write fails.
    fs.rmSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(path.dirname(file), 'not a directory');
    expect(registry.acquire('s1', 'control', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('control') })).toEqual({
      ok: false,
      reason: 'journal_failed',
    });
    expect(registry.isActive('control', 's1')).toBe(false);
  });

  it('will not start over a journal that still lists grants from a previous run', () => {
    registry.acquire('s1', 'capture', { userAction: true, expiresAt: clock.t + MIN, revoke: revokeFn('capture') });
    expect(() => new GrantRegistry({ clock, journal: new FileGrantJournal(file) })).toThrow(/recoverAfterCrash/);
    fs.writeFileSync(file, '{"version":1,"grants":[{"kind":"everything"}]}');
    expect(() => new GrantRegistry({ clock, journal: new FileGrantJournal(file) })).toThrow(/unreadable/);
  });
});
