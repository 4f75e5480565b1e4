import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, createUser, login, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { TestClock } from '../helpers/clock.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';

describe.each(ENGINES)('time and restarts on %s', (engine) => {
  let b: TestBroker | null = null;
  let clock: TestClock | null = null;
  afterEach(async () => {
    clock?.dispose();
    await b?.destroy();
    b = null;
  });

  it('the broker warns at 5 and 1 minutes, ends the session at its expiry and revokes the tokens', async () => {
    clock = new TestClock();
    // Minutes pass in single jumps here; a long heartbeat timeout keeps peer_lost out of the picture.
    b = await startTestBroker(engine, { clock, policy: { heartbeat_timeout_seconds: 300 } });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst, { duration: 10 });
    const { eu, an } = await connectBoth(b, analyst, s);
    // Time jumps stay under the heartbeat timeout, with the end user's client beating in between.
    const beat = async () => {
      eu.sendJson({ type: 'heartbeat' });
      await new Promise((r) => setTimeout(r, 30));
    };
    await clock.advance(4 * 60_000);
    await beat();
    await clock.advance(60_000 + 100);
    expect(await eu.nextOfType('expiry.warning')).toMatchObject({ seconds_left: 300 });
    expect(await an.nextOfType('expiry.warning')).toMatchObject({ seconds_left: 300 });
    await beat();
    await clock.advance(4 * 60_000);
    expect(await eu.nextOfType('expiry.warning')).toMatchObject({ seconds_left: 60 });
    await beat();
    await clock.advance(60_000);
    expect((await eu.nextOfType('session.ended')).reason).toBe('expired');
    expect((await an.nextOfType('session.ended')).reason).toBe('expired');
    expect(await eu.closed()).toBe(4000);
    await expect(SignalingClient.connect(b.url, s.endUserToken, s.endUser.device)).rejects.toThrow();
    await login(analyst);
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body).toMatchObject({ state: 'ended', end_reason: 'expired' });
  });

  it('an end user who stops sending heartbeats for 15 s ends the session as peer_lost', async () => {
    clock = new TestClock();
    b = await startTestBroker(engine, { clock });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    await clock.advance(10_000);
    eu.sendJson({ type: 'heartbeat' });
    await new Promise((r) => setTimeout(r, 1100));
    expect(an.frames.find((f) => f.type === 'session.ended')).toBeUndefined();
    await clock.advance(16_000);
    expect((await an.nextOfType('session.ended', 3000)).reason).toBe('peer_lost');
  });

  it('a broker restart mid-session: the session resumes within its original expiry, pending grants vanish', async () => {
    b = await startTestBroker(engine);
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control', 'clipboard'], approver });
    const before = await analyst.api.get(`/api/v1/sessions/${s.id}`);
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'grant.request', request_id: 'g1', capability: 'control' });
    await eu.nextOfType('grant.request');
    eu.sendJson({ type: 'grant.response', request_id: 'g1', capability: 'control', allow: true });
    await an.nextOfType('grant.changed');
    an.sendJson({ type: 'grant.request', request_id: 'g2', capability: 'clipboard' });
    await eu.nextOfType('grant.request');

    b = await b.restart();
    for (const u of [analyst, approver]) u.api = Object.assign(u.api, { baseUrl: b.url });
    (s.endUser as { baseUrl: string }).baseUrl = b.url;
    await expect(eu.closed()).resolves.toBe(1001);

    const after = await analyst.api.get(`/api/v1/sessions/${s.id}`);
    expect(after.body.state).toBe('active');
    expect(after.body.expires_at).toBe(before.body.expires_at);
    expect(after.body.grants.map((g: { capability: string; state: string }) => [g.capability, g.state])).toEqual([
      ['control', 'granted'],
      ['clipboard', 'denied'],
    ]);
    // The end user answering the old request after the restart gets nothing.
    const eu2 = await SignalingClient.connect(b.url, s.endUserToken, s.endUser.device);
    eu2.sendJson({ type: 'grant.response', request_id: 'g2', capability: 'clipboard', allow: true });
    expect((await eu2.nextOfType('error')).code).toBe('unknown_request');
    const grants = await b.ctx.storage.db.selectFrom('grants').select(['capability', 'state']).where('session_id', '=', s.id).orderBy('requested_at').execute();
    expect(grants).toEqual([
      { capability: 'control', state: 'granted' },
      { capability: 'clipboard', state: 'denied' },
    ]);
    const an2 = await SignalingClient.connect(b.url, s.analystToken, analyst.api.device);
    an2.sendJson({ type: 'end' });
    expect((await eu2.nextOfType('session.ended')).reason).toBe('completed');
  });

  it('a session whose expiry passed while the broker was down ends at start and is never extended', async () => {
    clock = new TestClock();
    b = await startTestBroker(engine, { clock });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst, { duration: 5 });
    await b.close();
    await clock.advance(6 * 60_000);
    b = await startTestBroker(engine, { clock }, { dataDir: b.dataDir, pgSchema: b.pgSchema });
    const row = await b.ctx.storage.db.selectFrom('sessions').select(['state', 'end_reason']).where('id', '=', s.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'ended', end_reason: 'expired' });
    await expect(SignalingClient.connect(b.url, s.endUserToken, s.endUser.device)).rejects.toThrow();
  });

  /** A live 30-minute session with control (so more time needs an approver), both parties connected. */
  async function liveSessionNeedingApproval() {
    const c = new TestClock();
    clock = c;
    b = await startTestBroker(engine, { clock: c, policy: { hard_max_minutes: 60, max_duration_minutes: 30, heartbeat_timeout_seconds: 300 } });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver, duration: 30 });
    const { eu, an } = await connectBoth(b, analyst, s);
    return { clock: c, broker: b, analyst, approver, s, eu, an };
  }

  it('extension: the end user must consent again, approval applies again, and the hard maximum holds', async () => {
    const { clock, analyst, approver, s, eu, an } = await liveSessionNeedingApproval();
    an.sendJson({ type: 'extend.request', request_id: 'x1', minutes: 40 });
    expect((await an.nextOfType('error')).code).toBe('hard_max');
    an.sendJson({ type: 'extend.request', request_id: 'x2', minutes: 15 });
    const pending = await an.nextOfType('extend.pending_approval');
    expect(eu.frames.find((f) => f.type === 'extend.offer')).toBeUndefined();
    const selfApprove = await analyst.api.post(`/api/v1/sessions/${s.id}/extensions/${pending.extension_id}/approve`, {});
    expect(selfApprove.status).toBe(403);
    expect((await approver.api.post(`/api/v1/sessions/${s.id}/extensions/${pending.extension_id}/approve`, {})).status).toBe(200);
    const offer = await eu.nextOfType('extend.offer');
    // Accepting without a signed receipt changes nothing.
    eu.sendJson({ type: 'extend.response', extension_id: offer.extension_id, accept: true });
    expect((await eu.nextOfType('error')).code).toBe('bad_receipt');
    const receipt = await s.endUser.device.sign('chaperone-extension+jwt', { sid: s.id, extension_id: offer.extension_id, decision: 'accept' });
    eu.sendJson({ type: 'extend.response', extension_id: offer.extension_id, accept: true, receipt });
    const result = await an.nextOfType('extend.result');
    expect(result).toMatchObject({ accepted: true, by: 'end_user' });
    const renewed = await eu.nextOfType('token.renewed');
    const before = s.endUserToken;
    expect(renewed.token).not.toBe(before);
    expect(renewed.expires_at).toBe(result.expires_at);
    // Time moves to the old expiry: the session is still on; at the new one it ends.
    // Time moves in steps the heartbeat timeout allows, the end user's client beating in between.
    for (let m = 0; m < 30; m += 4) {
      eu.sendJson({ type: 'heartbeat' });
      await new Promise((r) => setTimeout(r, 20));
      await clock.advance(Math.min(4, 30 - m) * 60_000);
    }
    await clock.advance(1000);
    expect(an.frames.find((f) => f.type === 'session.ended')).toBeUndefined();
    for (let m = 0; m < 16; m += 4) {
      eu.sendJson({ type: 'heartbeat' });
      await new Promise((r) => setTimeout(r, 20));
      await clock.advance(4 * 60_000);
    }
    expect((await an.nextOfType('session.ended')).reason).toBe('expired');
  });

  it("a rejected extension: the analyst hears it was the approver and why; the end user is never asked", async () => {
    const { broker, approver, s, eu, an } = await liveSessionNeedingApproval();
    an.sendJson({ type: 'extend.request', request_id: 'x1', minutes: 10 });
    const pending = await an.nextOfType('extend.pending_approval');
    const listed = await approver.api.get('/api/v1/extensions/pending');
    expect(listed.body.extensions.map((x: { id: string }) => x.id)).toEqual([pending.extension_id]);
    const tooLong = await approver.api.post(`/api/v1/sessions/${s.id}/extensions/${pending.extension_id}/reject`, { reason: 'x'.repeat(2001) });
    expect(tooLong.status).toBe(400);
    const r = await approver.api.post(`/api/v1/sessions/${s.id}/extensions/${pending.extension_id}/reject`, { reason: 'change freeze' });
    expect(r.status).toBe(200);
    // The analyst reads who refused by display name; the end user gets neither the words nor the name.
    const { display_name: approverName } = await broker.ctx.storage.db.selectFrom('accounts').select('display_name').where('username', '=', approver.username).executeTakeFirstOrThrow();
    expect(await an.nextOfType('extend.result')).toMatchObject({ accepted: false, by: 'approver', reason: 'change freeze', approver_name: approverName });
    const told = await eu.nextOfType('extend.result');
    expect(told).toMatchObject({ accepted: false, by: 'approver' });
    expect(told.reason).toBeUndefined();
    expect(told.approver_name).toBeUndefined();
    expect(eu.frames.find((f) => f.type === 'extend.offer')).toBeUndefined();
    const row = await broker.ctx.storage.db.selectFrom('extensions').selectAll().where('id', '=', pending.extension_id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'rejected', decision_note: 'change freeze' });
    expect((await approver.api.get('/api/v1/extensions/pending')).body.extensions).toEqual([]);
  });

  it('decisions that race: two approvers at once, two answers at once; each extension is decided once and applied once', async () => {
    const { broker, approver, s, eu, an } = await liveSessionNeedingApproval();
    const second = await createUser(broker, 'carol', ['approver']);
    an.sendJson({ type: 'extend.request', request_id: 'x1', minutes: 10 });
    const pending = await an.nextOfType('extend.pending_approval');
    const url = (d: string) => `/api/v1/sessions/${s.id}/extensions/${pending.extension_id}/${d}`;
    const [a, b2] = await Promise.all([approver.api.post(url('approve'), {}), second.api.post(url('reject'), { reason: 'no' })]);
    expect([a.status, b2.status].sort()).toEqual([200, 409]);
    const approved = a.status === 200;
    await broker.ctx.audit.flush();
    const decided = await broker.ctx.storage.db.selectFrom('audit_events').select('type').where('session_id', '=', s.id).where('type', 'in', ['extension.approved', 'extension.rejected']).execute();
    expect(decided).toHaveLength(1);
    if (!approved) {
      // The reject won this time; ask again so the answers below always have an offer to race on.
      expect((await an.nextOfType('extend.result')).by).toBe('approver');
      an.sendJson({ type: 'extend.request', request_id: 'x2', minutes: 10 });
      const again = await an.nextOfType('extend.pending_approval');
      expect((await approver.api.post(`/api/v1/sessions/${s.id}/extensions/${again.extension_id}/approve`, {})).status).toBe(200);
    }
    const offer = await eu.nextOfType('extend.offer');
    const before = (await broker.ctx.storage.db.selectFrom('sessions').select('expires_at').where('id', '=', s.id).executeTakeFirstOrThrow()).expires_at!;
    const receipt = await s.endUser.device.sign('chaperone-extension+jwt', { sid: s.id, extension_id: offer.extension_id, decision: 'accept' });
    eu.sendJson({ type: 'extend.response', extension_id: offer.extension_id, accept: true, receipt });
    eu.sendJson({ type: 'extend.response', extension_id: offer.extension_id, accept: true, receipt });
    expect((await an.nextOfType('extend.result')).accepted).toBe(true);
    expect((await eu.nextOfType('error')).code).toBe('no_pending_extension');
    const after = (await broker.ctx.storage.db.selectFrom('sessions').select('expires_at').where('id', '=', s.id).executeTakeFirstOrThrow()).expires_at!;
    expect(after - before).toBe(10 * 60_000);
  });

  it('a request for more time waiting when the broker restarts lapses and leaves the approvers\' list', async () => {
    const { broker, approver, an } = await liveSessionNeedingApproval();
    an.sendJson({ type: 'extend.request', request_id: 'x1', minutes: 10 });
    const pending = await an.nextOfType('extend.pending_approval');
    expect((await approver.api.get('/api/v1/extensions/pending')).body.extensions).toHaveLength(1);
    await broker.close();
    b = await startTestBroker(engine, { clock: clock!, policy: { hard_max_minutes: 60, max_duration_minutes: 30, heartbeat_timeout_seconds: 300 } }, { dataDir: broker.dataDir, pgSchema: broker.pgSchema });
    Object.assign(approver.api, { baseUrl: b.url });
    expect((await approver.api.get('/api/v1/extensions/pending')).body.extensions).toEqual([]);
    const row = await b.ctx.storage.db.selectFrom('extensions').select('state').where('id', '=', pending.extension_id).executeTakeFirstOrThrow();
    expect(row.state).toBe('lapsed');
  });
});
