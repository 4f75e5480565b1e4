import crypto from 'node:crypto';
import { SignJWT, UnsecuredJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';

const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** Re-signs a token's claims with HS256 using the broker's public key as the HMAC secret. */
function hs256WithPublicKey(token: string, publicJwk: object): string {
  const header = { ...decodeProtectedHeader(token), alg: 'HS256' };
  const payload = decodeJwt(token);
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const secret = crypto.createPublicKey({ key: publicJwk as crypto.JsonWebKey, format: 'jwk' }).export({ format: 'pem', type: 'spki' });
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function auditTypes(b: TestBroker, type: string): Promise<{ meta: string; outcome: string }[]> {
  await b.ctx.audit.flush();
  return b.ctx.storage.db.selectFrom('audit_events').select(['meta', 'outcome']).where('type', '=', type).execute();
}

describe('token and proof attacks are refused and audited', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let other: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    other = await createUser(b, 'oscar', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  it('an access token without a proof, or with a proof from another key, is refused', async () => {
    const noProof = await analyst.api.call('GET', '/api/v1/me', undefined, { proof: false });
    expect(noProof.status).toBe(401);
    expect(noProof.body.error.code).toBe('proof_required');
    const thief = new ApiClient(b.url, new DeviceKey());
    const stolen = await thief.call('GET', '/api/v1/me', undefined, { token: analyst.api.accessToken });
    expect(stolen.status).toBe(401);
    expect(stolen.body.error.code).toBe('bad_proof');
    const ok = await analyst.api.get('/api/v1/me');
    expect(ok.status).toBe(200);
    expect(ok.body.username).toBe('alice');
  });

  it('a replayed proof is refused', async () => {
    const url = `${b.url}/api/v1/me`;
    const proof = await analyst.api.device.httpProof('GET', url, analyst.api.accessToken!);
    const headers = { authorization: `DPoP ${analyst.api.accessToken}`, dpop: proof };
    expect((await fetch(url, { headers })).status).toBe(200);
    const replay = await fetch(url, { headers });
    expect(replay.status).toBe(401);
    expect((await replay.json()).error.code).toBe('proof_replayed');
  });

  it('a proof made for another route or method is refused', async () => {
    const proof = await analyst.api.device.httpProof('GET', `${b.url}/api/v1/sessions`, analyst.api.accessToken!);
    const res = await fetch(`${b.url}/api/v1/me`, { headers: { authorization: `DPoP ${analyst.api.accessToken}`, dpop: proof } });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('bad_proof');
  });

  it('alg none, HS256 with the public key and an unknown kid are all refused', async () => {
    const claims = decodeJwt(analyst.api.accessToken!);
    const none = new UnsecuredJWT(claims).encode();
    const jwks = await (await fetch(`${b.url}/.well-known/jwks.json`)).json();
    const hs = hs256WithPublicKey(analyst.api.accessToken!, jwks.keys[0]);
    const rogue = crypto.generateKeyPairSync('ed25519').privateKey;
    const unknownKid = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'not-a-broker-key' }).sign(rogue);
    const sameKidOtherKey = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: jwks.keys[0].kid }).sign(rogue);
    for (const token of [none, hs, unknownKid, sameKidOtherKey]) {
      const res = await analyst.api.call('GET', '/api/v1/me', undefined, { token });
      expect(res.status, token.slice(0, 30)).toBe(401);
      expect(res.body.error.code).toBe('bad_token');
    }
    const refused = await auditTypes(b, 'auth.request_rejected');
    expect(refused.filter((e) => e.meta.includes('bad_token')).length).toBeGreaterThanOrEqual(4);
  });

  it('the same forgeries on a session token cannot open signaling', async () => {
    const s = await activeSession(b, analyst);
    const claims = decodeJwt(s.endUserToken);
    const jwks = await (await fetch(`${b.url}/.well-known/jwks.json`)).json();
    const forged = [
      new UnsecuredJWT(claims).encode(),
      hs256WithPublicKey(s.endUserToken, jwks.keys[0]),
      await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'chaperone-session+jwt', kid: 'nope' }).sign(crypto.generateKeyPairSync('ed25519').privateKey),
    ];
    for (const token of forged) {
      await expect(SignalingClient.connect(b.url, token, s.endUser.device)).rejects.toThrow(/bad_token/);
    }
    // The real token with another device's proof, and the analyst's token with the end user's key.
    await expect(SignalingClient.connect(b.url, s.endUserToken, new DeviceKey())).rejects.toThrow(/bad_proof/);
    await expect(SignalingClient.connect(b.url, s.analystToken, s.endUser.device)).rejects.toThrow(/bad_proof/);
    const ok = await SignalingClient.connect(b.url, s.endUserToken, s.endUser.device);
    ok.close();
  });

  it('a token without proof of possession cannot open signaling', async () => {
    const s = await activeSession(b, analyst);
    const c = await SignalingClient.open(b.url);
    await c.nextOfType('challenge');
    c.sendJson({ type: 'auth', token: s.endUserToken, proof: 'x' });
    const err = await c.nextOfType('error');
    expect(err.code).toBe('bad_proof');
    expect(await c.closed()).toBe(4001);
    // A proof over another connection's nonce is a replay.
    const c2 = await SignalingClient.open(b.url);
    await c2.nextOfType('challenge');
    c2.sendJson({ type: 'auth', token: s.endUserToken, proof: await s.endUser.device.nonceProof('some-old-nonce', s.endUserToken) });
    expect((await c2.nextOfType('error')).code).toBe('bad_proof');
  });

  it('a session token is not an access token, and an end-user token cannot do analyst things', async () => {
    const s = await activeSession(b, analyst);
    const asAccess = await s.endUser.call('POST', '/api/v1/sessions', { ticket: 'INC-1', reason: 'x', capabilities: ['view'], duration_minutes: 5 }, { token: s.endUserToken });
    expect(asAccess.status).toBe(401);
    expect(asAccess.body.error.code).toBe('bad_token');
    const kill = await s.endUser.call('POST', `/api/v1/sessions/${s.id}/kill`, {}, { token: s.endUserToken });
    expect(kill.status).toBe(401);
    const { eu } = await connectBoth(b, analyst, s);
    eu.sendJson({ type: 'grant.request', request_id: 'r1', capability: 'control' });
    expect((await eu.nextOfType('error')).code).toBe('not_allowed');
    eu.sendJson({ type: 'extend.request', request_id: 'r2', minutes: 10 });
    expect((await eu.nextOfType('error')).code).toBe('not_allowed');
  });

  it("a token of session A cannot be used on session B", async () => {
    const a = await activeSession(b, analyst);
    const bSession = await activeSession(b, other);
    // The analyst of A asks for B's token: refused, it is not theirs.
    const t = await analyst.api.post(`/api/v1/sessions/${bSession.id}/token`, {});
    expect(t.status).toBe(403);
    // The end user of A answers B's offer: refused, it did not redeem B's code.
    const offerHash = crypto.createHash('sha256').update(bSession.offer).digest('base64url');
    const receipt = await a.endUser.device.sign('chaperone-consent+jwt', { sid: bSession.id, offer_hash: offerHash, decision: 'decline' });
    const c = await a.endUser.post('/api/v1/join/consent', { session_id: bSession.id, receipt });
    expect(c.status).toBe(403);
    expect((await analyst.api.get(`/api/v1/sessions/${a.id}`)).body.state).toBe('active');
    expect((await other.api.get(`/api/v1/sessions/${bSession.id}`)).body.state).toBe('active');
    // A's token connects to A and only A: the session comes from the signed token, not from the client.
    const sigA = await SignalingClient.connect(b.url, a.endUserToken, a.endUser.device);
    expect(sigA.ready).toMatchObject({ session_id: a.id, role: 'end_user' });
    sigA.close();
  });

  it('a rotating refresh token works once; reusing it revokes the whole family', async () => {
    const u = await createUser(b, 'rita', ['analyst']);
    const first = u.api.refreshToken!;
    const r1 = await u.api.post('/api/v1/auth/refresh', { refresh_token: first });
    expect(r1.status).toBe(200);
    const second = r1.body.refresh_token;
    const reuse = await u.api.post('/api/v1/auth/refresh', { refresh_token: first });
    expect(reuse.status).toBe(401);
    const afterFamilyRevoked = await u.api.post('/api/v1/auth/refresh', { refresh_token: second });
    expect(afterFamilyRevoked.status).toBe(401);
    const otherDevice = new ApiClient(b.url, new DeviceKey());
    expect((await otherDevice.post('/api/v1/auth/refresh', { refresh_token: second })).status).toBe(401);
    expect((await auditTypes(b, 'auth.refresh_failed')).some((e) => e.meta.includes('reused_family_revoked'))).toBe(true);
  });

  it('a disabled account is locked out at once, even with a live access token', async () => {
    const u = await createUser(b, 'dave', ['analyst']);
    expect((await u.api.get('/api/v1/me')).status).toBe(200);
    await b.ctx.accounts.disable('dave', 'test');
    const res = await u.api.get('/api/v1/me');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('account_disabled');
  });

  it('a wrong TOTP or a reused TOTP code does not sign in', async () => {
    const bad = await analyst.api.post('/api/v1/auth/login', { username: 'alice', password: analyst.password, totp: '000000' });
    expect(bad.status).toBe(401);
    const missing = await analyst.api.post('/api/v1/auth/login', { username: 'alice', password: analyst.password });
    expect(missing.status).toBe(401);
    const unknown = await analyst.api.post('/api/v1/auth/login', { username: "' OR 1=1 --", password: 'x', totp: '123456' });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.message).toBe(bad.body.error.message);
    // The code of the last good sign-in, replayed within its 30-second window.
    const replay = await analyst.api.post('/api/v1/auth/login', { username: 'alice', password: analyst.password, totp: analyst.lastTotp });
    expect(replay.status).toBe(401);
  });
});
