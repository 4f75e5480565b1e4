import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createUser, login, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { redeem, requestSession } from '../../kit/lifecycle.js';
import { TestClock } from '../helpers/clock.js';

describe.each(ENGINES)('a join code that expired unused is reissued under its approval, on %s', (engine) => {
  let b: TestBroker;
  let clock: TestClock;
  let analyst: TestUser;
  let other: TestUser;
  let approver: TestUser;

  beforeAll(async () => {
    clock = new TestClock();
    b = await startTestBroker(engine, { clock, policy: { approval_window_minutes: 15 } });
    analyst = await createUser(b, 'alice', ['analyst']);
    other = await createUser(b, 'olga', ['analyst']);
    approver = await createUser(b, 'bob', ['approver']);
  });
  afterAll(async () => {
    clock.dispose();
    await b?.destroy();
  });

  async function expiredCode(): Promise<{ id: string; code: string }> {
    const s = await requestSession(analyst, ['view', 'control']);
    expect((await approver.api.post(`/api/v1/sessions/${s.id}/approve`, {})).status).toBe(200);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    await clock.advance(10 * 60_000 + 1000);
    await Promise.all([login(analyst), login(approver), login(other)]);
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body).toMatchObject({ state: 'ended', end_reason: 'code_expired' });
    return { id: s.id, code: c.body.code };
  }

  it('gives a new code under the same approval, once; the old code stays dead', async () => {
    const old = await expiredCode();
    const tries = await Promise.all([0, 1, 2].map(() => analyst.api.post(`/api/v1/sessions/${old.id}/reissue`, {})));
    const won = tries.filter((t) => t.status === 200);
    expect(won).toHaveLength(1);
    expect(tries.filter((t) => t.status === 409).map((t) => t.body.error.code)).toEqual(['already_reissued', 'already_reissued']);
    const { session, code } = won[0]!.body;
    expect(session).toMatchObject({ state: 'code_issued', ticket: expect.any(String), capabilities: ['view', 'control'] });
    expect(session.id).not.toBe(old.id);
    expect(session.approval.approver).toBe('bob');
    expect((await redeem(b, old.code)).res.status).toBe(404);
    expect((await redeem(b, code.code)).res.status).toBe(200);
    await b.ctx.audit.flush();
    const audited = await b.ctx.storage.db.selectFrom('audit_events').select(['session_id', 'meta', 'actor']).where('type', '=', 'session.reissued').execute();
    expect(audited).toEqual([{ session_id: session.id, meta: expect.stringContaining(old.id), actor: 'account:alice' }]);
  });

  it('is refused once the approval window has passed, to another analyst, and for a code still live', async () => {
    const old = await expiredCode();
    expect((await other.api.post(`/api/v1/sessions/${old.id}/reissue`, {})).status).toBe(403);
    await clock.advance(5 * 60_000);
    await login(analyst);
    const late = await analyst.api.post(`/api/v1/sessions/${old.id}/reissue`, {});
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('approval_lapsed');
    const live = await requestSession(analyst);
    await analyst.api.post(`/api/v1/sessions/${live.id}/code`, {});
    const early = await analyst.api.post(`/api/v1/sessions/${live.id}/reissue`, {});
    expect(early.body.error.code).toBe('not_code_expired');
  });
});
