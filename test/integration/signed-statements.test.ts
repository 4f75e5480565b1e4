import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, connectBoth, consent, redeem, requestSession } from '../../kit/lifecycle.js';

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

/**
 * What an end user's signed statement says is what counts: its type, its session and its
 * decision must all be the ones the broker is being asked to act on. A frame or body cannot say
 * more than the signature does.
 */
describe('signed statements are bound to their type, session and decision', () => {
  let b: TestBroker;
  let analyst: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  async function pendingExtension() {
    const s = await activeSession(b, analyst, { duration: 10 });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'extend.request', request_id: 'more', minutes: 5 });
    const offer = await eu.nextOfType('extend.offer');
    const before = (await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.expires_at as number;
    return { s, eu, an, extensionId: offer.extension_id, before };
  }

  it('an extension receipt that says decline does not extend the session, whatever the frame says', async () => {
    const { s, eu, an, extensionId, before } = await pendingExtension();
    const declined = await s.endUser.device.sign('chaperone-extension+jwt', { sid: s.id, extension_id: extensionId, decision: 'decline' });
    eu.sendJson({ type: 'extend.response', extension_id: extensionId, accept: true, receipt: declined });
    expect((await eu.nextOfType('error')).code).toBe('bad_receipt');
    await settle();
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.expires_at).toBe(before);
    expect(an.frames.filter((f) => f.type === 'extend.result')).toEqual([]);
    // The question stays open for a proper answer.
    const accepted = await s.endUser.device.sign('chaperone-extension+jwt', { sid: s.id, extension_id: extensionId, decision: 'accept' });
    eu.sendJson({ type: 'extend.response', extension_id: extensionId, accept: true, receipt: accepted });
    expect(await an.nextOfType('extend.result')).toMatchObject({ extension_id: extensionId, accepted: true });
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.expires_at).toBe(before + 5 * 60_000);
    eu.close();
    an.close();
  });

  it('a decline whose receipt says accept is refused: the frame and the signature must agree', async () => {
    const { s, eu, an, extensionId } = await pendingExtension();
    const accepted = await s.endUser.device.sign('chaperone-extension+jwt', { sid: s.id, extension_id: extensionId, decision: 'accept' });
    eu.sendJson({ type: 'extend.response', extension_id: extensionId, accept: false, receipt: accepted });
    expect((await eu.nextOfType('error')).code).toBe('bad_receipt');
    const row = await b.ctx.storage.db.selectFrom('extensions').select('state').where('id', '=', extensionId).executeTakeFirstOrThrow();
    expect(row.state).toBe('awaiting_consent');
    eu.close();
    an.close();
  });

  it('an extension receipt for another session, or a consent receipt in its place, is refused', async () => {
    const { s, eu, an, extensionId } = await pendingExtension();
    const otherSession = await s.endUser.device.sign('chaperone-extension+jwt', { sid: crypto.randomUUID(), extension_id: extensionId, decision: 'accept' });
    const wrongType = await s.endUser.device.sign('chaperone-consent+jwt', { sid: s.id, extension_id: extensionId, decision: 'accept' });
    for (const receipt of [otherSession, wrongType]) {
      eu.sendJson({ type: 'extend.response', extension_id: extensionId, accept: true, receipt });
      expect((await eu.nextOfType('error')).code).toBe('bad_receipt');
    }
    eu.close();
    an.close();
  });

  it('a consent receipt that declines while listing accepted capabilities is refused and starts nothing', async () => {
    const s = await requestSession(analyst);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    const { api, res } = await redeem(b, c.body.code);
    const offerHash = crypto.createHash('sha256').update(res.body.offer).digest('base64url');
    const mixed = await api.device.sign('chaperone-consent+jwt', { sid: s.id, offer_hash: offerHash, decision: 'decline', accepted_capabilities: ['view', 'chat'] });
    const r = await api.post('/api/v1/join/consent', { session_id: s.id, receipt: mixed });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('bad_receipt');
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.state).toBe('pending_consent');
    // The honest answer still counts.
    expect((await consent(api, s.id, res.body.offer)).body.accepted).toBe(true);
  });
});
