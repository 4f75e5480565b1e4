import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { ApiClient } from '../../kit/api.js';
import { ENGINES, createUser, freshTotp, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { PasskeyPage, launchHeadlessChromium, missingChromium } from '../../kit/virtual-authenticator.js';
import { skipWithout } from '../helpers/needs-tools.js';

/**
 * Passkeys against the real broker, made by Chromium's virtual authenticator on pages at
 * localhost origins: adding one, stepping up with it, and what the broker refuses: an answer sent
 * twice, an answer to another account's challenge, a page at an origin the broker does not list,
 * an assertion for another relying party id, a signature counter that did not move on.
 */
const SUITE = 'passkeys with the virtual authenticator';
const skip = skipWithout(SUITE, missingChromium());

describe.skipIf(skip).each(ENGINES)(`${SUITE} (%s)`, (engine) => {
  let browser: Browser;
  let good: PasskeyPage;
  let stranger: PasskeyPage;
  let otherRp: PasskeyPage;
  let b: TestBroker | null = null;
  beforeAll(async () => {
    browser = await launchHeadlessChromium();
    good = await PasskeyPage.open(browser);
    stranger = await PasskeyPage.open(browser);
    // *.localhost is loopback and a secure context too: a site with a relying party id of its own.
    otherRp = await PasskeyPage.open(browser, 'other.localhost');
  });
  afterAll(async () => {
    for (const p of [good, stranger, otherRp]) await p?.close();
    await browser?.close();
  });
  afterEach(async () => {
    await b?.destroy();
    b = null;
  });

  const start = async (policy: Record<string, unknown> = {}) => {
    b = await startTestBroker(engine, { file: { webauthn: { rp_id: 'localhost', rp_name: 'Chaperone', origins: [good.origin, otherRp.origin] } } as never, policy: policy as never });
    return b;
  };

  async function addPasskey(u: TestUser, page: PasskeyPage, name = 'Work laptop') {
    const o = await u.api.post('/api/v1/me/passkeys/options', {});
    expect(o.status).toBe(200);
    const credential = await page.create(o.body.options);
    return { res: await u.api.post('/api/v1/me/passkeys', { challenge_id: o.body.challenge_id, name, credential }), credential, challenge_id: o.body.challenge_id as string };
  }

  async function assertion(u: TestUser, page: PasskeyPage, tweak: (o: Record<string, unknown>) => Record<string, unknown> = (o) => o) {
    const o = await u.api.post('/api/v1/auth/step-up/passkey/options', {});
    expect(o.status).toBe(200);
    return { challenge_id: o.body.challenge_id as string, credential: await page.get(tweak(o.body.options)) };
  }

  async function auditTypes(actor: string) {
    await b!.ctx.audit.flush();
    return b!.ctx.storage.db.selectFrom('audit_events').select(['type', 'meta']).where('actor', '=', actor).orderBy('seq').execute();
  }

  it('adds a passkey, lists it, steps up with it (mfa_at moves), removes it; each audited', async () => {
    await start();
    const sam = await createUser(b!, 'sam', ['analyst']);
    const { res } = await addPasskey(sam, good);
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('Work laptop');
    const list = await sam.api.get('/api/v1/me/passkeys');
    expect(list.body.passkeys.map((p: { name: string }) => p.name)).toEqual(['Work laptop']);

    await b!.ctx.storage.db.updateTable('accounts').set({ mfa_at: Date.now() - 30 * 60_000 }).where('username', '=', 'sam').execute();
    const a = await assertion(sam, good);
    const up = await sam.api.post('/api/v1/auth/step-up/passkey', a);
    expect(up.status).toBe(200);
    expect(Date.now() - up.body.mfa_at).toBeLessThan(5000);
    const row = await b!.ctx.storage.db.selectFrom('accounts').select('mfa_at').where('username', '=', 'sam').executeTakeFirstOrThrow();
    expect(Number(row.mfa_at)).toBe(up.body.mfa_at);
    const listed = (await sam.api.get('/api/v1/me/passkeys')).body.passkeys[0];
    expect(listed.last_used_at).toBe(up.body.mfa_at);

    const rm = await sam.api.post(`/api/v1/me/passkeys/${listed.id}/remove`, {});
    expect(rm.status).toBe(200);
    expect((await sam.api.get('/api/v1/me/passkeys')).body.passkeys).toEqual([]);
    // Gone: a step-up by passkey has nothing to ask for.
    expect((await sam.api.post('/api/v1/auth/step-up/passkey/options', {})).status).toBe(403);
    const types = (await auditTypes('account:sam')).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['auth.passkey_added', 'auth.step_up', 'auth.passkey_removed']));
  });

  it('an answer sent twice is refused the second time (the challenge is spent), for adding and for step-up', async () => {
    await start();
    const sam = await createUser(b!, 'sam', ['analyst']);
    const first = await addPasskey(sam, good);
    expect(first.res.status).toBe(200);
    const again = await sam.api.post('/api/v1/me/passkeys', { challenge_id: first.challenge_id, name: 'Again', credential: first.credential });
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('passkey_refused');

    const a = await assertion(sam, good);
    expect((await sam.api.post('/api/v1/auth/step-up/passkey', a)).status).toBe(200);
    const replay = await sam.api.post('/api/v1/auth/step-up/passkey', a);
    expect(replay.status).toBe(400);
    const whys = (await auditTypes('account:sam')).filter((e) => e.type.endsWith('_failed')).map((e) => JSON.parse(String(e.meta)).why);
    expect(whys).toEqual(['unknown_or_used_challenge', 'unknown_or_used_challenge']);
  });

  it("another account's challenge is refused, and stays good for its owner", async () => {
    await start();
    const sam = await createUser(b!, 'sam', ['analyst']);
    const eve = await createUser(b!, 'eve', ['analyst']);
    expect((await addPasskey(sam, good)).res.status).toBe(200);
    expect((await addPasskey(eve, good, 'Eve key')).res.status).toBe(200);
    // Eve answers Sam's step-up challenge (with her own passkey): Sam's challenge is not hers.
    const samChallenge = await sam.api.post('/api/v1/auth/step-up/passkey/options', {});
    const eveAnswer = await assertion(eve, good);
    const foreign = await eve.api.post('/api/v1/auth/step-up/passkey', { challenge_id: samChallenge.body.challenge_id, credential: eveAnswer.credential });
    expect(foreign.status).toBe(400);
    // Sam's challenge survived Eve's try and still works for Sam.
    const samAnswer = await good.get(samChallenge.body.options);
    expect((await sam.api.post('/api/v1/auth/step-up/passkey', { challenge_id: samChallenge.body.challenge_id, credential: samAnswer })).status).toBe(200);
  });

  it('a page at an origin the broker does not list, or an assertion for another rp id, is refused', async () => {
    await start();
    const sam = await createUser(b!, 'sam', ['analyst']);
    // Adding from a page the broker does not list.
    const o = await sam.api.post('/api/v1/me/passkeys/options', {});
    const fromStranger = await stranger.create(o.body.options);
    const refused = await sam.api.post('/api/v1/me/passkeys', { challenge_id: o.body.challenge_id, name: 'Stranger', credential: fromStranger });
    expect(refused.status).toBe(400);
    expect((await sam.api.get('/api/v1/me/passkeys')).body.passkeys).toEqual([]);

    expect((await addPasskey(sam, good)).res.status).toBe(200);
    // A listed origin, but the page asks its own relying party id: the signed rp id hash is not the broker's.
    const o2 = await sam.api.post('/api/v1/me/passkeys/options', {});
    const otherCred = await otherRp.create({ ...o2.body.options, rp: { name: 'Other', id: 'other.localhost' } });
    const wrongRp = await sam.api.post('/api/v1/me/passkeys', { challenge_id: o2.body.challenge_id, name: 'Other', credential: otherCred });
    expect(wrongRp.status).toBe(400);
    const whys = (await auditTypes('account:sam')).filter((e) => e.type === 'auth.passkey_failed').map((e) => JSON.parse(String(e.meta)).why);
    expect(whys).toEqual(['wrong_origin', 'wrong_rp_id']);
  });

  it('a signature counter that does not move on (a cloned key) is refused', async () => {
    await start();
    const sam = await createUser(b!, 'sam', ['analyst']);
    expect((await addPasskey(sam, good)).res.status).toBe(200);
    const ok = await assertion(sam, good);
    expect((await sam.api.post('/api/v1/auth/step-up/passkey', ok)).status).toBe(200);
    // As if a copy of the key had already been used many more times than this one.
    await b!.ctx.storage.db.updateTable('passkeys').set({ counter: 1_000_000 }).execute();
    const behind = await assertion(sam, good);
    const r = await sam.api.post('/api/v1/auth/step-up/passkey', behind);
    expect(r.status).toBe(400);
    const last = (await auditTypes('account:sam')).filter((e) => e.type === 'auth.step_up_failed').at(-1);
    expect(JSON.parse(String(last!.meta)).why).toBe('counter_not_increased');
  });

  it('signs in with password and passkey in place of a code; a replayed answer or a wrong password is refused', async () => {
    await start();
    const sam = await createUser(b!, 'sam', ['analyst']);
    expect((await addPasskey(sam, good)).res.status).toBe(200);
    const laptop = new ApiClient(b!.url, new DeviceKey());
    expect((await laptop.post('/api/v1/auth/login/passkey-options', { username: 'sam', password: 'not it' })).status).toBe(401);
    const o = await laptop.post('/api/v1/auth/login/passkey-options', { username: 'sam', password: sam.password });
    expect(o.status).toBe(200);
    const passkey = { challenge_id: o.body.challenge_id, credential: await good.get(o.body.options) };
    const signedIn = await laptop.post('/api/v1/auth/login', { username: 'sam', password: sam.password, passkey });
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    laptop.accessToken = signedIn.body.access_token;
    expect((await laptop.get('/api/v1/me')).body.username).toBe('sam');
    // The same answer again: the challenge is spent.
    const again = await new ApiClient(b!.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'sam', password: sam.password, passkey });
    expect(again.status).toBe(401);
    // Neither a code nor a passkey: refused as a missing code is.
    expect((await new ApiClient(b!.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'sam', password: sam.password })).status).toBe(401);
    const login = (await auditTypes('account:sam')).filter((e) => e.type === 'auth.login').map((e) => JSON.parse(String(e.meta)).factor);
    expect(login).toContain('passkey');
  });

  it('challenges are bounded per account, and policy can ask a role for a passkey instead of a code', async () => {
    await start({ passkey_required_roles: ['analyst'] });
    const sam = await createUser(b!, 'sam', ['analyst']);
    expect((await addPasskey(sam, good)).res.status).toBe(200);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await sam.api.post('/api/v1/auth/step-up/passkey/options', {})).body.challenge_id);
    const live = await b!.ctx.storage.db.selectFrom('webauthn_challenges').select('id').where('account_id', '=', sam.id).execute();
    expect(live.length).toBe(5);
    expect(live.map((x) => x.id)).not.toContain(ids[0]);
    const totp = await sam.api.post('/api/v1/auth/step-up', { totp: freshTotp(sam.totpSecret) });
    expect(totp.status).toBe(403);
    expect(totp.body.error.code).toBe('passkey_required');
    // Oversized answers are refused by the schema before the library reads them.
    const big = await sam.api.post('/api/v1/auth/step-up/passkey', { challenge_id: ids[7], credential: { id: 'a', rawId: 'a', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'a'.repeat(5000), authenticatorData: 'a', signature: 'a' } } });
    expect(big.status).toBe(400);
  });
});
