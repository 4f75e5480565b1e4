import { afterEach, describe, expect, it } from 'vitest';
import { main as cli } from '../../broker/cli.js';
import { ApiClient } from '../../kit/api.js';
import { ENGINES, createUser, freshTotp, login, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession, connectBoth, requestSession } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';
import { TestClock } from '../helpers/clock.js';

/**
 * What an account holds stops working the moment the account changes: disabled, a role taken
 * away, the password reset or changed, or a sign-out. Its live sessions end (account_revoked),
 * open sockets close, and every token it holds (access, refresh, session) is refused, because
 * each use checks the account's token epoch in the database (the signature check stays cached).
 */
describe.each(ENGINES)('account changes end sessions and refuse tokens at once (%s)', (engine) => {
  let b: TestBroker | null = null;
  let clock: TestClock | null = null;
  afterEach(async () => {
    clock?.dispose();
    clock = null;
    await b?.destroy();
    b = null;
  });

  async function world() {
    // Time moves on between sign-ins (a TOTP code is good once per 30 s step); the end user's
    // silence through the jumps must not end the session first.
    clock = new TestClock();
    b = await startTestBroker(engine, { clock, policy: { heartbeat_timeout_seconds: 300 } });
    const alice = await createUser(b, 'alice', ['analyst']);
    const admin = await createUser(b, 'root', ['admin']);
    const s = await activeSession(b, alice);
    const { eu, an } = await connectBoth(b, alice, s);
    const waiting = await requestSession(alice);
    return { b, alice, admin, s, eu, an, waiting, access: alice.api.accessToken!, refresh: alice.api.refreshToken! };
  }

  /** Everything alice held before the change is refused now. */
  async function expectAllRefused(w: Awaited<ReturnType<typeof world>>) {
    const { b, alice, s, eu, an, waiting, access, refresh } = w;
    expect((await an.nextOfType('session.ended')).reason).toBe('account_revoked');
    expect((await eu.nextOfType('session.ended')).reason).toBe('account_revoked');
    expect(await an.closed()).toBe(4000);
    await expect(SignalingClient.connect(b.url, s.analystToken, alice.api.device)).rejects.toThrow(/token_revoked|closed 4001/);
    const me = await alice.api.call('GET', '/api/v1/me', undefined, { token: access });
    expect(me.status).toBe(401);
    expect((await alice.api.post('/api/v1/auth/refresh', { refresh_token: refresh })).status).toBe(401);
    for (const id of [s.id, waiting.id]) {
      const row = await b.ctx.storage.db.selectFrom('sessions').select(['state', 'end_reason']).where('id', '=', id).executeTakeFirstOrThrow();
      expect(row).toEqual({ state: 'ended', end_reason: 'account_revoked' });
    }
  }

  it('disabling the analyst', async () => {
    const w = await world();
    expect((await w.admin.api.post('/api/v1/admin/users/alice/disable', {})).status).toBe(200);
    await expectAllRefused(w);
  });

  it('taking a role away', async () => {
    const w = await world();
    const res = await w.admin.api.post('/api/v1/admin/users/alice/roles', { roles: ['auditor'] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ username: 'alice', roles: ['auditor'] });
    await expectAllRefused(w);
  });

  it("resetting the password (the admin's one-time password must be changed before anything works)", async () => {
    const w = await world();
    const res = await w.admin.api.post('/api/v1/admin/users/alice/reset-password', {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.username).toBe('alice');
    await expectAllRefused(w);
    await clock!.advance(60_000);
    const again = await w.alice.api.post('/api/v1/auth/login', { username: 'alice', password: w.alice.password, totp: freshTotp(w.alice.totpSecret) });
    expect(again.status).toBe(401);
    const otp = await w.alice.api.post('/api/v1/auth/login', { username: 'alice', password: res.body.one_time_password, totp: freshTotp(w.alice.totpSecret) });
    expect(otp.status).toBe(403);
    expect(otp.body.error.code).toBe('password_change_required');
  });

  it('the analyst changing their own password', async () => {
    const w = await world();
    await clock!.advance(60_000);
    const change = await new ApiClient(w.b.url, new DeviceKey()).post('/api/v1/auth/password', { username: 'alice', password: w.alice.password, totp: freshTotp(w.alice.totpSecret), new_password: 'a brand new passphrase' });
    expect(change.status).toBe(200);
    await expectAllRefused(w);
    w.alice.password = 'a brand new passphrase';
    await login(w.alice);
    expect((await w.alice.api.get('/api/v1/me')).status).toBe(200);
  });

  it('signing out refuses the access token of that sign-in at once, and only that one', async () => {
    // An account without TOTP, so that it can sign in twice within one 30 s step.
    b = await startTestBroker(engine, { policy: { mfa_required_roles: [] } });
    const created = await b.ctx.accounts.create({ username: 'audrey', display_name: 'Audrey', organisation: 'Acme IT', kind: 'internal', roles: ['auditor'], totp: false }, 'test');
    const password = 'audrey has a long password';
    expect((await new ApiClient(b.url).post('/api/v1/auth/password', { username: 'audrey', password: created.one_time_password, new_password: password })).status).toBe(200);
    const signIn = async () => {
      const api = new ApiClient(b!.url, new DeviceKey());
      const res = await api.post('/api/v1/auth/login', { username: 'audrey', password });
      expect(res.status).toBe(200);
      api.accessToken = res.body.access_token;
      api.refreshToken = res.body.refresh_token;
      return api;
    };
    const laptop = await signIn();
    const desktop = await signIn();
    expect((await laptop.post('/api/v1/auth/logout', { refresh_token: laptop.refreshToken })).status).toBe(200);
    const me = await laptop.get('/api/v1/me');
    expect(me.status).toBe(401);
    expect(me.body.error.code).toBe('token_revoked');
    // Another sign-in is another family: it goes on.
    expect((await desktop.get('/api/v1/me')).status).toBe(200);
  });
});

describe('a change made outside this broker process', () => {
  let b: TestBroker | null = null;
  afterEach(async () => {
    await b?.destroy();
    b = null;
  });

  it('`chaperone-broker user disable` (its own process on the same database) ends the live session within about a second', async () => {
    b = await startTestBroker('sqlite');
    const alice = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, alice);
    const { eu, an } = await connectBoth(b, alice, s);
    const out = process.stdout.write;
    process.stdout.write = () => true;
    try {
      expect(await cli(['user', 'disable', '--username', 'alice', '--data-dir', b.dataDir])).toBe(0);
    } finally {
      process.stdout.write = out;
    }
    // Refused at the next use: every request reads the account.
    expect((await alice.api.get('/api/v1/me')).status).toBe(401);
    const started = Date.now();
    expect((await an.nextOfType('session.ended', 3000)).reason).toBe('account_revoked');
    expect(Date.now() - started).toBeLessThan(2500);
    expect((await eu.nextOfType('session.ended')).reason).toBe('account_revoked');
  });
});
