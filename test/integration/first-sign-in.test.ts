import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { ENGINES, freshTotp, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { TestClock } from '../helpers/clock.js';

/**
 * A newcomer's first sign-in through the API the app uses: the printed one-time password alone
 * opens a setup for this device, which shows the rules and the authenticator secret to enrol; the
 * account's own password and a first code close it and sign in. Nothing of it works twice, from
 * another device, with a weak password, a wrong code or after an admin changed the account.
 */
describe.each(ENGINES)('first sign-in (%s)', (engine) => {
  let b: TestBroker | null = null;
  let clock: TestClock | null = null;
  afterEach(async () => {
    clock?.dispose();
    clock = null;
    await b?.destroy();
    b = null;
  });

  async function world() {
    clock = new TestClock();
    b = await startTestBroker(engine, { clock });
    const created = await b.ctx.accounts.create({ username: 'nina', display_name: 'Nina Novak', organisation: 'Acme IT', kind: 'internal', roles: ['analyst'] }, 'test');
    return { b, created, api: new ApiClient(b.url, new DeviceKey()) };
  }

  it('from the one-time password to a signed-in account with its own password and a confirmed authenticator', async () => {
    const { b, created, api } = await world();
    // The sign-in form first: a one-time password is sent to the first-sign-in screens, no code needed, none spent.
    const login = await api.post('/api/v1/auth/login', { username: 'nina', password: created.one_time_password });
    expect(login.status).toBe(403);
    expect(login.body.error.code).toBe('password_change_required');

    const begun = await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: created.one_time_password });
    expect(begun.status, JSON.stringify(begun.body)).toBe(200);
    expect(begun.body.display_name).toBe('Nina Novak');
    expect(begun.body.totp_required).toBe(true);
    // The same secret that was printed with the one-time password, as text and in the QR code's URI.
    expect(begun.body.totp_enrolment.secret).toBe(created.totp_secret);
    expect(begun.body.totp_enrolment.otpauth_uri).toBe(created.otpauth_uri);
    expect(begun.body.password_rules.map((r: { id: string }) => r.id)).toEqual(['length', 'not_username', 'not_one_time', 'not_repeated']);
    const token = begun.body.setup_token as string;

    // Each broken rule is named; nothing changes.
    for (const [pw, words] of [
      ['short', /At least 12 characters/],
      ['nina', /At least 12 characters.*Not your username/],
      [created.one_time_password, /Not the one-time password/],
      ['aaaaaaaaaaaaaaa', /Not one character repeated/],
    ] as const) {
      const weak = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: token, new_password: pw, totp: '123456' });
      expect(weak.status, pw).toBe(400);
      expect(weak.body.error.code).toBe('weak_password');
      expect(weak.body.error.message).toMatch(words);
    }
    // A wrong code is refused and the setup stays open.
    const wrong = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: token, new_password: 'correct horse battery staple', totp: '000000' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('bad_totp');
    // Another device cannot finish this setup, even with the right code.
    const other = await new ApiClient(b.url, new DeviceKey()).post('/api/v1/auth/first-sign-in/finish', { setup_token: token, new_password: 'correct horse battery staple', totp: '123456' });
    expect(other.status).toBe(401);
    expect(other.body.error.code).toBe('setup_expired');

    const done = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: token, new_password: 'correct horse battery staple', totp: freshTotp(created.totp_secret!) });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    api.accessToken = done.body.access_token;
    const me = await api.get('/api/v1/me');
    expect(me.status).toBe(200);
    expect(me.body.username).toBe('nina');
    expect(me.body.mfa_at).toBeGreaterThan(0);

    // Good once.
    const again = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: token, new_password: 'another good passphrase', totp: freshTotp(created.totp_secret!) });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('setup_expired');
    // The one-time password is spent; the new password with a code signs in as usual.
    expect((await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: created.one_time_password })).status).toBe(401);
    await clock!.advance(31_000);
    const normal = await new ApiClient(b.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'nina', password: 'correct horse battery staple', totp: freshTotp(created.totp_secret!) });
    expect(normal.status, JSON.stringify(normal.body)).toBe(200);
    // And no code is needed-free any more: the authenticator is enrolled, a sign-in without one fails.
    expect((await new ApiClient(b.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'nina', password: 'correct horse battery staple' })).status).toBe(401);

    await b.ctx.audit.flush();
    const types = (await b.ctx.storage.db.selectFrom('audit_events').select(['type', 'outcome', 'actor']).orderBy('seq').execute()).filter((e) => e.actor === 'account:nina').map((e) => `${e.type}:${e.outcome}`);
    expect(types).toEqual(expect.arrayContaining(['auth.first_sign_in_started:success', 'auth.first_sign_in_failed:failure', 'auth.totp_enrolled:success', 'auth.password_changed:success', 'auth.login:success']));
  });

  it('an admin who resets or disables the account in between ends the setup', async () => {
    const { b, created, api } = await world();
    const begun = await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: created.one_time_password });
    const reset = await b.ctx.accounts.resetPassword('nina', 'account:admin');
    const after = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: begun.body.setup_token, new_password: 'correct horse battery staple', totp: freshTotp(created.totp_secret!) });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('setup_expired');
    const again = await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: reset.one_time_password });
    expect(again.status).toBe(200);
    await b.ctx.accounts.disable('nina', 'account:admin');
    const disabled = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: again.body.setup_token, new_password: 'correct horse battery staple', totp: freshTotp(created.totp_secret!) });
    expect(disabled.status).toBe(401);
    expect((await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: reset.one_time_password })).status).toBe(401);
  });

  it('after a reset, an enrolled authenticator is not shown again: the setup asks for its code', async () => {
    const { b, created, api } = await world();
    const begun = await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: created.one_time_password });
    expect((await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: begun.body.setup_token, new_password: 'correct horse battery staple', totp: freshTotp(created.totp_secret!) })).status).toBe(200);
    const reset = await b.ctx.accounts.resetPassword('nina', 'account:admin');
    await clock!.advance(31_000);
    const second = await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: reset.one_time_password });
    expect(second.status).toBe(200);
    expect(second.body.totp_enrolment).toBeNull();
    expect(second.body.totp_required).toBe(true);
    const noCode = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: second.body.setup_token, new_password: 'a second good passphrase' });
    expect(noCode.status).toBe(401);
    const ok = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: second.body.setup_token, new_password: 'a second good passphrase', totp: freshTotp(created.totp_secret!) });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it('wrong codes are bounded: the one that reaches the limit spends the setup and locks the account', async () => {
    const { b, created, api } = await world();
    const begun = await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: created.one_time_password });
    const limit = b.ctx.cfg.rateLimits.login_failures_per_account;
    const answers = [];
    for (let i = 0; i < limit; i++) answers.push((await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: begun.body.setup_token, new_password: 'correct horse battery staple', totp: String(100000 + i) })).body.error.code);
    expect(answers.slice(0, -1).every((c) => c === 'bad_totp')).toBe(true);
    expect(answers.at(-1)).toBe('account_locked');
    const right = await api.post('/api/v1/auth/first-sign-in/finish', { setup_token: begun.body.setup_token, new_password: 'correct horse battery staple', totp: freshTotp(created.totp_secret!) });
    expect(right.status).toBe(401);
    expect((await api.post('/api/v1/auth/first-sign-in', { username: 'nina', password: created.one_time_password })).status).toBe(429);
  });
});
