import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { ApiClient } from '../../kit/api.js';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession, connectBoth, redeem, requestSession } from '../../kit/lifecycle.js';
import { checkIdToken, idTokenKeys } from '../../broker/auth/oidc-id-token.js';
import { listenForSsoAnswer } from '../../main/sso-loopback.js';
import { signInAtIdp, startTestIdp, type IdpUser, type TestIdp } from '../helpers/oidc-idp.js';

/**
 * Single sign-on against a real OpenID provider (oidc-provider) and a real broker: the provider's
 * login page is filled in as a person would, the broker redeems the code with PKCE and checks the
 * ID token; each way an attacker or a misconfiguration could slip something in is refused with a
 * code that says which.
 */
const people = (): IdpUser[] => [
  { sub: 'dana', password: 'dana-pw-1', name: 'Dana Reyes', email: 'dana@acme.example', groups: ['helpdesk', 'approvers'], amr: ['pwd', 'mfa'], acr: 'phr' },
  { sub: 'lee', password: 'lee-pw-1', name: 'Lee Park', email: 'lee@acme.example', groups: ['sales'], amr: ['pwd'] },
];

async function ssoBroker(engine: (typeof ENGINES)[number], idp: TestIdp, extra: { step_up_acr?: string } = {}) {
  return startTestBroker(engine, {
    file: {
      oidc: {
        issuer: idp.issuer,
        client_id: idp.clientId,
        client_secret: idp.clientSecret,
        groups_claim: 'groups',
        claims_to_roles: [
          { claim: 'groups', value: 'helpdesk', roles: ['analyst'] },
          { claim: 'groups', value: 'approvers', roles: ['approver'] },
        ],
        organisation: 'Acme IT',
        claims_to_organisation: [{ claim: 'groups', value: 'vendors', organisation: 'Contoso Support' }],
        ...extra,
      } as never,
    },
  });
}

const isCallback = (u: URL) => u.pathname === '/api/v1/auth/oidc/callback';

/** The browser's round trip: start with the device key, the provider's pages, the broker's callback; the fragment the page reads. */
async function browserAnswer(b: TestBroker, api: ApiClient, who: IdpUser, path = '/api/v1/auth/oidc/start') {
  const start = await api.post(path, { return_to: `${b.url}/console` });
  expect(start.status, JSON.stringify(start.body)).toBe(200);
  const cb = await signInAtIdp(start.body.authorization_url, who.sub, who.password, isCallback);
  const back = await fetch(cb, { redirect: 'manual' });
  expect(back.status).toBe(302);
  const loc = new URL(back.headers.get('location')!);
  expect(loc.origin + loc.pathname).toBe(`${b.url}/console`);
  const f = new URLSearchParams(loc.hash.slice(1));
  return { state: f.get('sso_state')!, code: f.get('sso_code')!, iss: f.get('sso_iss') ?? undefined, authUrl: new URL(start.body.authorization_url) };
}

async function ssoSignIn(b: TestBroker, who: IdpUser, api = new ApiClient(b.url, new DeviceKey())) {
  const a = await browserAnswer(b, api, who);
  const res = await api.post('/api/v1/auth/oidc/finish', { state: a.state, code: a.code, iss: a.iss });
  if (res.status === 200) {
    api.accessToken = res.body.access_token;
    api.refreshToken = res.body.refresh_token;
  }
  return { res, api };
}

describe.each(ENGINES)('single sign-on with OpenID Connect (%s)', (engine) => {
  let idp: TestIdp;
  let b: TestBroker;
  beforeAll(async () => {
    idp = await startTestIdp(people());
    b = await ssoBroker(engine, idp);
  });
  afterAll(async () => {
    await b?.destroy();
    await idp?.close();
  });

  it('signs in through the provider: PKCE S256, state, nonce; the account is made from the ID token with roles from groups', async () => {
    const dana = idp.users.get('dana')!;
    const api = new ApiClient(b.url, new DeviceKey());
    const a = await browserAnswer(b, api, dana);
    // What went to the provider: a challenge, never the verifier.
    expect(a.authUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(a.authUrl.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.authUrl.searchParams.get('nonce')).toBeTruthy();
    expect(a.authUrl.searchParams.get('state')).toBe(a.state);
    const res = await api.post('/api/v1/auth/oidc/finish', { state: a.state, code: a.code, iss: a.iss });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
    expect(res.body.account).toMatchObject({ username: 'dana', display_name: 'Dana Reyes', organisation: 'Acme IT', roles: ['analyst', 'approver'] });
    api.accessToken = res.body.access_token;
    const me = await api.get('/api/v1/me');
    expect(me.status).toBe(200);
    expect(Date.now() - me.body.mfa_at).toBeLessThan(60_000);
    // The same answer again is spent.
    const again = await api.post('/api/v1/auth/oidc/finish', { state: a.state, code: a.code, iss: a.iss });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('sso_bad_state');
    // The analyst can ask for a session with it.
    const s = await api.post('/api/v1/sessions', { ticket: 'INC-7001', reason: 'printer driver will not install', capabilities: ['view', 'chat'], duration_minutes: 30 });
    expect(s.status, JSON.stringify(s.body)).toBe(200);
  });

  it('a stolen callback URL is useless: only the device that started can finish', async () => {
    const owner = new ApiClient(b.url, new DeviceKey());
    const a = await browserAnswer(b, owner, idp.users.get('dana')!);
    const thief = new ApiClient(b.url, new DeviceKey());
    const stolen = await thief.post('/api/v1/auth/oidc/finish', { state: a.state, code: a.code, iss: a.iss });
    expect(stolen.status).toBe(401);
    expect(stolen.body.error.code).toBe('sso_other_device');
    expect(stolen.body.error.message).toContain('only good on the device that asked');
  });

  it('a state the broker did not start is refused at the callback and at the finish', async () => {
    const cb = await fetch(`${b.url}/api/v1/auth/oidc/callback?state=forged-state-0123456789&code=abc`, { redirect: 'manual' });
    expect(cb.status).toBe(400);
    expect((await cb.json()).error.code).toBe('sso_bad_state');
    const api = new ApiClient(b.url, new DeviceKey());
    const fin = await api.post('/api/v1/auth/oidc/finish', { state: 'forged-state-0123456789', code: 'abc' });
    expect(fin.status).toBe(401);
    expect(fin.body.error.code).toBe('sso_bad_state');
  });

  it("a code finished with another sign-in's PKCE verifier is refused by the provider", async () => {
    const api = new ApiClient(b.url, new DeviceKey());
    const first = await browserAnswer(b, api, idp.users.get('dana')!);
    const second = await api.post('/api/v1/auth/oidc/start', { return_to: `${b.url}/console` });
    // Code injection: the first sign-in's code under the second's state (and so its verifier).
    const res = await api.post('/api/v1/auth/oidc/finish', { state: second.body.state, code: first.code, iss: first.iss });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('sso_code_refused');
    expect(res.body.error.message).toContain('PKCE');
  });

  it("an ID token with another sign-in's nonce is refused (the verifier matched, the nonce did not)", async () => {
    const api = new ApiClient(b.url, new DeviceKey());
    const first = await browserAnswer(b, api, idp.users.get('dana')!);
    const second = await api.post('/api/v1/auth/oidc/start', { return_to: `${b.url}/console` });
    // An attacker who also knew the first verifier: PKCE passes, the nonce is the first sign-in's.
    const v = await b.ctx.storage.db.selectFrom('oidc_flows').select('code_verifier').where('state', '=', first.state).executeTakeFirstOrThrow();
    await b.ctx.storage.db.updateTable('oidc_flows').set({ code_verifier: v.code_verifier }).where('state', '=', second.body.state).execute();
    const res = await api.post('/api/v1/auth/oidc/finish', { state: second.body.state, code: first.code, iss: first.iss });
    expect(res.status).toBe(401);
    expect(res.body.error.code, res.body.error.message).toBe('sso_wrong_nonce');
  });

  it('an answer naming another issuer is refused', async () => {
    const api = new ApiClient(b.url, new DeviceKey());
    const a = await browserAnswer(b, api, idp.users.get('dana')!);
    const res = await api.post('/api/v1/auth/oidc/finish', { state: a.state, code: a.code, iss: 'https://login.evil.example' });
    expect(res.status).toBe(401);
    expect(res.body.error.code, res.body.error.message).toBe('sso_wrong_issuer');
  });

  it('someone in none of the mapped groups gets no account', async () => {
    const { res } = await ssoSignIn(b, idp.users.get('lee')!);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('sso_no_role');
    expect(await b.ctx.storage.db.selectFrom('accounts').select('id').where('username', '=', 'lee').executeTakeFirst()).toBeUndefined();
  });
});

describe('single sign-on: the account follows the provider', () => {
  let idp: TestIdp;
  let b: TestBroker | null = null;
  beforeAll(async () => {
    idp = await startTestIdp(people());
  });
  afterEach(async () => {
    await b?.destroy();
    b = null;
  });
  afterAll(async () => idp?.close());

  it('removed from a group at the provider: the role is gone at the next sign-in, and the old tokens with it', async () => {
    b = await ssoBroker('sqlite', idp);
    const dana = idp.users.get('dana')!;
    const first = await ssoSignIn(b, dana);
    expect(first.res.body.account.roles).toEqual(['analyst', 'approver']);
    dana.groups = ['helpdesk'];
    const second = await ssoSignIn(b, dana);
    expect(second.res.status).toBe(200);
    expect(second.res.body.account.roles).toEqual(['analyst']);
    const old = await first.api.get('/api/v1/me');
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe('token_revoked');
    dana.groups = [];
    const third = await ssoSignIn(b, dana);
    expect(third.res.status).toBe(403);
    expect(third.res.body.error.code).toBe('sso_no_role');
    expect((await second.api.get('/api/v1/me')).status).toBe(401);
    dana.groups = ['helpdesk', 'approvers'];
  });

  it('a disabled account stays disabled whatever the provider says', async () => {
    b = await ssoBroker('sqlite', idp);
    const dana = idp.users.get('dana')!;
    expect((await ssoSignIn(b, dana)).res.status).toBe(200);
    await b.ctx.accounts.disable('dana', 'account:admin');
    const again = await ssoSignIn(b, dana);
    expect(again.res.status).toBe(401);
    expect(again.res.body.error.code).toBe('account_disabled');
    const row = await b.ctx.storage.db.selectFrom('accounts').select('disabled').where('username', '=', 'dana').executeTakeFirstOrThrow();
    expect(row.disabled).toBe(1);
  });

  it('the consent offer says who vouched for the analyst and when and how they authenticated', async () => {
    b = await ssoBroker('sqlite', idp);
    const { res, api } = await ssoSignIn(b, idp.users.get('dana')!);
    expect(res.status).toBe(200);
    const analyst = { username: 'dana', password: '', totpSecret: '', api, id: res.body.account.id } as TestUser;
    const s = await requestSession(analyst);
    const c = await api.post(`/api/v1/sessions/${s.id}/code`, {});
    const { res: red } = await redeem(b, c.body.code);
    const claims = JSON.parse(Buffer.from((red.body.offer as string).split('.')[1]!, 'base64url').toString('utf8'));
    expect(claims.verification).toMatchObject({ method: 'sso', issuer: idp.issuer, amr: ['pwd', 'mfa'], acr: 'phr' });
    expect(Math.abs(claims.verification.mfa_at * 1000 - Date.now())).toBeLessThan(60_000);
  });

  it('a stale auth_time refuses control until a re-authorisation at the provider (max_age, the acr policy asks)', async () => {
    b = await ssoBroker('sqlite', idp, { step_up_acr: 'phr' });
    const dana = idp.users.get('dana')!;
    // The provider signed Dana in 25 minutes ago.
    idp.nextLoginTs = Math.floor(Date.now() / 1000) - 25 * 60;
    const { res, api } = await ssoSignIn(b, dana);
    expect(res.status).toBe(200);
    const analyst = { username: 'dana', password: '', totpSecret: '', api, id: res.body.account.id } as TestUser;
    const approver = await createUser(b, 'pat', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'control' });
    const refused = await an.nextOfType('error');
    expect(refused.code).toBe('step_up_required');
    expect(refused.message).toContain('25 minutes ago');

    const start = await api.post('/api/v1/auth/oidc/step-up', { return_to: `${b.url}/console` });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const url = new URL(start.body.authorization_url);
    expect(url.searchParams.get('max_age')).toBe('600');
    expect(url.searchParams.get('acr_values')).toBe('phr');
    const cb = await signInAtIdp(start.body.authorization_url, dana.sub, dana.password, isCallback);
    const loc = new URL((await fetch(cb, { redirect: 'manual' })).headers.get('location')!);
    const f = new URLSearchParams(loc.hash.slice(1));
    const up = await api.post('/api/v1/auth/oidc/step-up/finish', { state: f.get('sso_state'), code: f.get('sso_code'), iss: f.get('sso_iss') });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(Date.now() - up.body.mfa_at).toBeLessThan(60_000);

    an.sendJson({ type: 'grant.request', request_id: 'c2', capability: 'control' });
    const ask = await eu.nextOfType('grant.request');
    expect(ask).toMatchObject({ request_id: 'c2', capability: 'control' });
    eu.close();
    an.close();
  });

  it("the desktop app's loopback redirect (RFC 8252): a one-shot listener on 127.0.0.1 at a random port gets the answer, the broker redeems it with the device key", async () => {
    b = await ssoBroker('sqlite', idp);
    const listener = await listenForSsoAnswer(30_000);
    expect(listener.redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sso\/callback$/);
    const api = new ApiClient(b.url, new DeviceKey());
    const start = await api.post('/api/v1/auth/oidc/start', { loopback_redirect_uri: listener.redirectUri });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    const answered = listener.answer(start.body.state);
    const dana = idp.users.get('dana')!;
    const redirect = await signInAtIdp(start.body.authorization_url, dana.sub, dana.password, (u) => u.port === new URL(listener.redirectUri).port);
    // A call for another state is not taken; the browser's is.
    const wrong = await fetch(`${listener.redirectUri}?state=someone-else&code=x`);
    expect(wrong.status).toBe(400);
    const page = await fetch(redirect);
    expect(await page.text()).toContain('You can close this tab');
    const answer = await answered;
    const res = await api.post('/api/v1/auth/oidc/finish', answer);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.account.username).toBe('dana');
    // The listener is gone after its one answer.
    await expect(fetch(listener.redirectUri)).rejects.toThrow();
    // Not a loopback address: refused before the provider is asked.
    const bad = await api.post('/api/v1/auth/oidc/start', { loopback_redirect_uri: 'http://evil.example:8080/sso/callback' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('sso_bad_redirect');
  });

  it("the broker's own ID token check refuses a wrong issuer, audience, nonce, an expired token and a bad signature", async () => {
    // A real ID token from the provider, obtained as the broker would.
    const dana = idp.users.get('dana')!;
    const conf = await client.discovery(new URL(idp.issuer), idp.clientId, idp.clientSecret, undefined, { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = client.randomState();
    const redirectUri = 'http://127.0.0.1:9/api/v1/auth/oidc/callback';
    const authUrl = client.buildAuthorizationUrl(conf, { redirect_uri: redirectUri, scope: 'openid profile', state, nonce, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const cb = await signInAtIdp(authUrl.toString(), dana.sub, dana.password, isCallback);
    const tokens = await client.authorizationCodeGrant(conf, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const idToken = tokens.id_token!;
    const keys = idTokenKeys(conf.serverMetadata().jwks_uri!);
    const ok = { issuer: idp.issuer, audience: idp.clientId, nonce, nowMs: Date.now() };
    await expect(checkIdToken(idToken, keys, ok)).resolves.toMatchObject({ sub: 'dana', amr: ['pwd', 'mfa'] });
    const code = async (x: Partial<typeof ok>, token = idToken) => checkIdToken(token, keys, { ...ok, ...x }).then(() => 'accepted', (e: { code: string }) => e.code);
    expect(await code({ issuer: 'https://login.other.example' })).toBe('sso_wrong_issuer');
    expect(await code({ audience: 'another-client' })).toBe('sso_wrong_audience');
    expect(await code({ nonce: 'not-this-sign-in' })).toBe('sso_wrong_nonce');
    expect(await code({ nowMs: Date.now() + 2 * 3600_000 })).toBe('sso_id_token_expired');
    const [h, p, sig] = idToken.split('.');
    const flipped = `${h}.${p}.${sig!.slice(0, -4)}${sig!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    expect(await code({}, flipped)).toBe('sso_bad_signature');
  });
});
