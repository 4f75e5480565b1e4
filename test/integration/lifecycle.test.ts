import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, connectBoth, consent, redeem, requestSession } from '../../kit/lifecycle.js';

describe.each(ENGINES)('session lifecycle on %s', (engine) => {
  let b: TestBroker;
  let analyst: TestUser;
  let approver: TestUser;
  let vendor: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    b = await startTestBroker(engine);
    analyst = await createUser(b, 'alice', ['analyst']);
    approver = await createUser(b, 'bob', ['approver']);
    vendor = await createUser(b, 'victor', ['analyst'], 'vendor', 'Vendor Ltd');
    admin = await createUser(b, 'root', ['admin']);
  });
  afterAll(async () => b?.destroy());

  it('view-only by an internal analyst is approved by policy and runs to completion', async () => {
    const s = await activeSession(b, analyst);
    const view = await analyst.api.get(`/api/v1/sessions/${s.id}`);
    expect(view.body.state).toBe('active');
    expect(view.body.approval).toMatchObject({ required: false, why: 'approved by policy' });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'signal', payload: { kind: 'offer', sdp: 'v=0 fake offer' } });
    const relayed = await eu.nextOfType('signal');
    expect(relayed).toEqual({ type: 'signal', from: 'analyst', payload: { kind: 'offer', sdp: 'v=0 fake offer' } });
    an.sendJson({ type: 'end' });
    expect((await eu.nextOfType('session.ended')).reason).toBe('completed');
    expect(await eu.closed()).toBe(4000);
    expect(await an.closed()).toBe(4000);
    const after = await analyst.api.get(`/api/v1/sessions/${s.id}`);
    expect(after.body).toMatchObject({ state: 'ended', end_reason: 'completed' });
  });

  it('control needs an approver, and a vendor always does', async () => {
    const s1 = await requestSession(analyst, ['view', 'control']);
    expect(s1.state).toBe('awaiting_approval');
    const s2 = await requestSession(vendor, ['view']);
    expect(s2.state).toBe('awaiting_approval');
    const code = await analyst.api.post(`/api/v1/sessions/${s1.id}/code`, {});
    expect(code.status).toBe(409);
    expect(code.body.error.code).toBe('illegal_transition');
    const ok = await approver.api.post(`/api/v1/sessions/${s1.id}/approve`, {});
    expect(ok.status).toBe(200);
    expect(ok.body.state).toBe('approved');
    expect(ok.body.approval.approver).toBe('bob');
  });

  it('rejection ends the session as rejected, and the analyst sees who rejected it and why', async () => {
    const s = await requestSession(vendor, ['view']);
    const r = await approver.api.post(`/api/v1/sessions/${s.id}/reject`, { reason: 'no change window' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ state: 'ended', end_reason: 'rejected' });
    const seen = await vendor.api.get(`/api/v1/sessions/${s.id}`);
    expect(seen.body.approval).toMatchObject({ approver: 'bob', rejection_reason: 'no change window' });
  });

  it('the end user declining ends the session as declined', async () => {
    const s = await requestSession(analyst);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    const { api, res } = await redeem(b, c.body.code);
    expect(res.status).toBe(200);
    const d = await consent(api, s.id, res.body.offer, 'decline');
    expect(d.body).toEqual({ accepted: false });
    const v = await analyst.api.get(`/api/v1/sessions/${s.id}`);
    expect(v.body).toMatchObject({ state: 'ended', end_reason: 'declined' });
  });

  it('the offer is signed by the broker key and names who, what, and for how long', async () => {
    const s = await requestSession(analyst, ['view', 'chat'], 'INC-777', 20);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    expect(c.body.code_display).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
    const { res } = await redeem(b, c.body.code_display.toLowerCase());
    const jwks = await (await fetch(`${b.url}/.well-known/jwks.json`)).json();
    const { jwtVerify, createLocalJWKSet } = await import('jose');
    const { payload, protectedHeader } = await jwtVerify(res.body.offer, createLocalJWKSet(jwks), { algorithms: ['EdDSA'], typ: 'chaperone-offer+jwt' });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload).toMatchObject({
      sid: s.id,
      org: 'Chaperone',
      analyst: { name: 'Alice Tester', organisation: 'Acme IT', kind: 'internal' },
      verification: { method: 'password+totp' },
      ticket: 'INC-777',
      capabilities: ['view', 'chat'],
      duration_s: 1200,
    });
    expect((payload as { verification: { mfa_at: number } }).verification.mfa_at).toBeGreaterThan(Date.now() / 1000 - 600);
  });

  it('the kill switch ends a live session, tells both sides and the tokens stop working', async () => {
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    const k = await admin.api.post(`/api/v1/sessions/${s.id}/kill`, {});
    expect(k.status).toBe(200);
    expect((await eu.nextOfType('session.ended')).reason).toBe('revoked');
    expect((await an.nextOfType('session.ended')).reason).toBe('revoked');
    await expect(eu.closed()).resolves.toBe(4000);
    await expect(an.closed()).resolves.toBe(4000);
    const { SignalingClient } = await import('../../kit/signaling-client.js');
    await expect(SignalingClient.connect(b.url, s.endUserToken, s.endUser.device)).rejects.toThrow(/token_revoked|4001/);
    const again = await admin.api.post(`/api/v1/sessions/${s.id}/kill`, {});
    expect(again.status).toBe(409);
  });
});
