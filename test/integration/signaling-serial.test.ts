import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';

const settle = (ms = 400) => new Promise((r) => setTimeout(r, ms));

/**
 * Frames that arrive together (one TCP write) are handled one at a time, in order: a limit
 * checked before an await cannot be passed by the frames queued behind it.
 */
describe('frames of one socket are handled one at a time, in order', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let approver: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    approver = await createUser(b, 'bob', ['approver']);
  });
  afterAll(async () => b?.destroy());

  it('20 grant requests in one write put at most 4 prompts in front of the end user', async () => {
    const s = await activeSession(b, analyst, { caps: ['view', 'control', 'clipboard', 'files'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendBurst(Array.from({ length: 20 }, (_, i) => ({ type: 'grant.request', request_id: `burst-${i}`, capability: (['control', 'clipboard', 'files'] as const)[i % 3] })));
    await settle();
    const prompts = eu.frames.filter((f) => f.type === 'grant.request');
    expect(prompts.length).toBe(4);
    // In order: the first four were taken, the rest refused.
    expect(prompts.map((p) => (p as { request_id: string }).request_id)).toEqual(['burst-0', 'burst-1', 'burst-2', 'burst-3']);
    const errors = an.frames.filter((f) => f.type === 'error').map((f) => (f as { code: string }).code);
    expect(errors).toEqual(Array.from({ length: 16 }, () => 'too_many_pending'));
    const rows = await b.ctx.storage.db.selectFrom('grants').select('id').where('session_id', '=', s.id).execute();
    expect(rows.length).toBe(4);
    eu.close();
    an.close();
  });

  it('two requests for more time in one write make one pending extension', async () => {
    const s = await activeSession(b, analyst, { duration: 10 });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendBurst([
      { type: 'extend.request', request_id: 'x1', minutes: 5 },
      { type: 'extend.request', request_id: 'x2', minutes: 5 },
    ]);
    await settle();
    const offers = eu.frames.filter((f) => f.type === 'extend.offer');
    expect(offers.length).toBe(1);
    expect(an.frames.filter((f) => f.type === 'error').map((f) => (f as { code: string }).code)).toEqual(['extension_pending']);
    const rows = await b.ctx.storage.db.selectFrom('extensions').select(['id', 'state']).where('session_id', '=', s.id).execute();
    expect(rows).toEqual([{ id: (offers[0] as { extension_id: string }).extension_id, state: 'awaiting_consent' }]);
    eu.close();
    an.close();
  });

  it('frames sent right behind auth wait for it instead of being refused as unauthenticated', async () => {
    const s = await activeSession(b, analyst);
    const eu = await SignalingClient.connect(b.url, s.endUserToken, s.endUser.device);
    const an = await SignalingClient.open(b.url);
    const challenge = await an.nextOfType('challenge');
    an.sendBurst([
      { type: 'auth', token: s.analystToken, proof: await analyst.api.device.nonceProof(challenge.nonce, s.analystToken) },
      { type: 'heartbeat' },
      { type: 'signal', payload: { kind: 'offer', sdp: 'v=0 right behind auth' } },
    ]);
    expect((await an.nextOfType('ready')).role).toBe('analyst');
    expect(await eu.nextOfType('signal')).toMatchObject({ from: 'analyst', payload: { kind: 'offer', sdp: 'v=0 right behind auth' } });
    await settle(100);
    expect(an.closeCode).toBeNull();
    eu.close();
    an.close();
  });
});

describe('the queue of one socket is bounded', () => {
  let b: TestBroker;
  let analyst: TestUser;

  beforeAll(async () => {
    // The rate limit raised out of the way, so what is measured is the queue's own bound.
    b = await startTestBroker('sqlite', { file: { rate_limits: { signaling_burst: 5000, signaling_frames_per_s: 5000 } as never } });
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  it('frames beyond 256 waiting in one socket are refused with queue_full; the socket stays open and later frames go through', async () => {
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendBurst(Array.from({ length: 400 }, () => ({ type: 'heartbeat' })));
    await settle(500);
    const full = an.frames.filter((f) => f.type === 'error' && (f as { code: string }).code === 'queue_full').length;
    expect(full).toBe(400 - 256);
    an.sendJson({ type: 'signal', payload: { kind: 'offer', sdp: 'v=0 after the flood' } });
    expect(await eu.nextOfType('signal')).toMatchObject({ payload: { sdp: 'v=0 after the flood' } });
    expect(an.closeCode).toBeNull();
    eu.close();
    an.close();
  });
});
