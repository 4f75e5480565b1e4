import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTurnCredentials, type TurnConfig } from '../../broker/turn.js';
import { missingTurnserver, startCoturn, type Coturn } from '../helpers/coturn.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { TurnClient, turnAllocate } from '../helpers/stun-client.js';

const HOUR = 3_600_000;
const skipCoturn = skipWithout('TURN against coturn', missingTurnserver());

describe('issueTurnCredentials', () => {
  const cfg: TurnConfig = { urls: ['turn:turn.example:3478'], secret: 's3cret', ttlSeconds: 600 };
  const now = Date.UTC(2026, 0, 1, 12, 0, 0, 250);

  it('uses the TTL when the session ends later, in whole seconds', () => {
    const c = issueTurnCredentials(cfg, { sessionId: 'sess-1', role: 'analyst', sessionExpiresAtMs: now + HOUR, nowMs: now });
    const expiry = Math.floor(now / 1000) + 600;
    expect(c.username).toBe(`${expiry}:sess-1.analyst`);
    expect(c.expires_at).toBe(expiry * 1000);
    expect(c.urls).toEqual(cfg.urls);
  });

  it('never expires after the session end', () => {
    for (const left of [0, 1, 999, 1000, 1001, 59_999, 600_000, 600_001, HOUR]) {
      const end = now + left;
      const c = issueTurnCredentials(cfg, { sessionId: 'sess-1', role: 'end_user', sessionExpiresAtMs: end, nowMs: now });
      expect(c.expires_at).toBeLessThanOrEqual(end);
      expect(c.expires_at).toBeLessThanOrEqual(now + cfg.ttlSeconds * 1000);
      expect(Number(c.username.split(':')[0]) * 1000).toBe(c.expires_at);
    }
    // A session that already ended gets a credential coturn will refuse, not a fresh TTL.
    const ended = issueTurnCredentials(cfg, { sessionId: 'sess-1', role: 'end_user', sessionExpiresAtMs: now - 5000, nowMs: now });
    expect(ended.expires_at).toBeLessThan(now);
  });

  it('username is `expiry:session.role` and the credential is base64 HMAC-SHA1 of it', () => {
    const c = issueTurnCredentials(cfg, { sessionId: '01J9ZQ3V6W', role: 'end_user', sessionExpiresAtMs: now + HOUR, nowMs: now });
    expect(c.username).toMatch(/^\d{10}:01J9ZQ3V6W\.end_user$/);
    // Fixed vector computed independently: printf %s "$user" | openssl dgst -sha1 -hmac s3cret -binary | base64
    expect(c.username).toBe('1767269400:01J9ZQ3V6W.end_user');
    expect(c.credential).toBe('Am+Rv4Z0QDIK1/7V6Xzcgv4xFbk=');
    // The role is in the signed username, so one role's credential is not the other's.
    const a = issueTurnCredentials(cfg, { sessionId: '01J9ZQ3V6W', role: 'analyst', sessionExpiresAtMs: now + HOUR, nowMs: now });
    expect(a.credential).not.toBe(c.credential);
  });

  it('refuses an empty secret and a non-positive TTL', () => {
    const p = { sessionId: 's', role: 'analyst' as const, sessionExpiresAtMs: now + HOUR, nowMs: now };
    expect(() => issueTurnCredentials({ ...cfg, secret: '' }, p)).toThrow(/secret/);
    expect(() => issueTurnCredentials({ ...cfg, ttlSeconds: 0 }, p)).toThrow(/ttl/i);
  });
});

describe.skipIf(skipCoturn)('TURN against coturn', () => {
  let turn: Coturn;
  let cfg: TurnConfig;

  beforeAll(async () => {
    turn = await startCoturn();
    cfg = { urls: [turn.url], secret: turn.secret, ttlSeconds: 300 };
  });
  afterAll(async () => {
    await turn?.stop();
  });

  const allocate = (username: string, password: string) => turnAllocate({ host: '127.0.0.1', port: turn.port, username, password });
  const issue = (over: Partial<{ sessionId: string; role: 'analyst' | 'end_user'; sessionExpiresAtMs: number; nowMs: number }> = {}) =>
    issueTurnCredentials(cfg, { sessionId: 'sess-turn', role: 'analyst', sessionExpiresAtMs: Date.now() + HOUR, nowMs: Date.now(), ...over });

  it('issued credentials allocate a UDP relay on 127.0.0.1 inside the configured port range', async () => {
    for (const role of ['analyst', 'end_user'] as const) {
      const c = issue({ role });
      const r = await allocate(c.username, c.credential);
      expect(r, turn.logTail()).toMatchObject({ ok: true, relayed: { address: '127.0.0.1' } });
      if (!r.ok) continue;
      expect(r.relayed.port).toBeGreaterThanOrEqual(turn.relayPorts.min);
      expect(r.relayed.port).toBeLessThanOrEqual(turn.relayPorts.max);
    }
  });

  it('credentials whose expiry has passed get 401', async () => {
    // What the broker hands out for a session that has already ended.
    const ended = issue({ sessionExpiresAtMs: Date.now() - 60_000 });
    expect(await allocate(ended.username, ended.credential)).toEqual({ ok: false, errorCode: 401, reason: 'Unauthorized' });
    // And a TTL-bounded one issued long ago.
    const old = issue({ nowMs: Date.now() - 2 * HOUR });
    expect(await allocate(old.username, old.credential)).toMatchObject({ ok: false, errorCode: 401 });
  });

  it('forged credentials get 401: wrong secret, or a tampered username with the original password', async () => {
    const wrongSecret = issueTurnCredentials({ ...cfg, secret: `${cfg.secret}x` }, { sessionId: 'sess-turn', role: 'analyst', sessionExpiresAtMs: Date.now() + HOUR, nowMs: Date.now() });
    expect(await allocate(wrongSecret.username, wrongSecret.credential)).toMatchObject({ ok: false, errorCode: 401 });

    const real = issue({ role: 'end_user' });
    const [expiry, rest] = real.username.split(':') as [string, string];
    const tampered = [
      `${Number(expiry) + 86_400}:${rest}`, // pushed the expiry out a day
      `${expiry}:${rest.replace(/\.end_user$/, '.analyst')}`, // claimed the other role
      `${expiry}:other-session.end_user`, // another session
    ];
    for (const username of tampered) {
      expect(await allocate(username, real.credential), username).toMatchObject({ ok: false, errorCode: 401 });
    }
    // A right username with a flipped password byte is refused too.
    const bad = real.credential.startsWith('A') ? `B${real.credential.slice(1)}` : `A${real.credential.slice(1)}`;
    expect(await allocate(real.username, bad)).toMatchObject({ ok: false, errorCode: 401 });
    // The untouched original still works, so the 401s above are about the tampering.
    expect(await allocate(real.username, real.credential)).toMatchObject({ ok: true });
  });

  it('the session-end cap is enforced by coturn for new allocations, but not for one already open', async () => {
    // Session ends in about 2 s; the TTL (300 s) would have allowed much longer.
    const c = issue({ sessionExpiresAtMs: Date.now() + 2000 });
    const client = new TurnClient('127.0.0.1', turn.port);
    try {
      const first = await client.allocate(c.username, c.credential);
      expect(first, turn.logTail()).toMatchObject({ ok: true });

      // coturn compares whole seconds and accepts the expiry second itself.
      const wait = c.expires_at + 1000 + 200 - Date.now();
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));

      expect(await allocate(c.username, c.credential)).toMatchObject({ ok: false, errorCode: 401 });
      // Known coturn behaviour: it checks the timestamp only when it first authenticates the
      // 5-tuple, so the open allocation can still be refreshed. Ending relays at session end
      // therefore cannot rest on the credential expiry alone.
      expect(await client.refresh(c.username, c.credential, 60)).toMatchObject({ ok: true });
      expect(await client.refresh(c.username, c.credential, 0)).toMatchObject({ ok: true, lifetimeSeconds: 0 });
    } finally {
      client.close();
    }
  });
});
