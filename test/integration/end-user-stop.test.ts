import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';

/**
 * The end user accepted, then sharing never began (the screen could not be captured, a required
 * recording did not start): the app says so over HTTP with the session's own token, and the
 * analyst is told at once instead of waiting on a session that shows nothing until its time ends.
 */
describe.each(['sqlite', 'postgres'] as const)('the end user stops a session over HTTP (%s)', (engine) => {
  let b: TestBroker;
  let analyst: TestUser;
  beforeAll(async () => {
    b = await startTestBroker(engine);
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  const stop = (s: { id: string; endUser: import('../../kit/api.js').ApiClient }, token: string, body: unknown, id = s.id) =>
    s.endUser.call('POST', `/api/v1/sessions/${id}/stop`, body, { token });

  it('ends the session as capture_refused: the analyst hears it, the tokens die, the audit names the end user', async () => {
    const s = await activeSession(b, analyst);
    const an = await SignalingClient.connect(b.url, s.analystToken, analyst.api.device);
    const r = await stop(s, s.endUserToken, { reason: 'capture_refused' });
    expect([r.status, r.body]).toEqual([200, { ended: true, reason: 'capture_refused' }]);
    expect((await an.nextOfType('session.ended')).reason).toBe('capture_refused');
    const view = await analyst.api.get(`/api/v1/sessions/${s.id}`);
    expect([view.body.state, view.body.end_reason]).toEqual(['ended', 'capture_refused']);
    // The end user's token ended with the session: a second stop changes nothing.
    const again = await stop(s, s.endUserToken, { reason: 'user_stopped' });
    expect(again.status).toBeGreaterThanOrEqual(400);
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.end_reason).toBe('capture_refused');
    await b.ctx.audit.flush();
    const ended = await b.ctx.storage.db.selectFrom('audit_events').selectAll().where('session_id', '=', s.id).where('type', '=', 'session.ended').execute();
    expect(ended).toHaveLength(1);
    expect(ended[0]!.actor).toBe(`end_user:${(await s.endUser.device.jkt()).slice(0, 16)}`);
    an.close();
  });

  it("refuses the analyst's token, another session's token and a reason the end user cannot give, changing nothing", async () => {
    const s = await activeSession(b, analyst);
    const other = await activeSession(b, analyst);
    const byAnalyst = await analyst.api.call('POST', `/api/v1/sessions/${s.id}/stop`, { reason: 'capture_refused' }, { token: s.analystToken });
    expect(byAnalyst.status).toBe(403);
    const wrongSession = await stop(other, other.endUserToken, { reason: 'capture_refused' }, s.id);
    expect(wrongSession.status).toBe(403);
    for (const body of [{ reason: 'revoked' }, { reason: 'completed' }, { reason: 'capture_refused', extra: 1 }, {}, { reason: 'x'.repeat(5000) }]) {
      expect((await stop(s, s.endUserToken, body)).status, JSON.stringify(body).slice(0, 60)).toBe(400);
    }
    for (const id of [s.id, other.id]) expect((await analyst.api.get(`/api/v1/sessions/${id}`)).body.state).toBe('active');
  });
});
