import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';
import { TestClock } from '../helpers/clock.js';

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

async function audited(b: TestBroker, sessionId: string, type: string): Promise<Record<string, unknown>[]> {
  await b.ctx.audit.flush();
  const rows = await b.ctx.storage.db.selectFrom('audit_events').select('meta').where('session_id', '=', sessionId).where('type', '=', type).orderBy('seq').execute();
  return rows.map((r) => JSON.parse(r.meta) as Record<string, unknown>);
}

describe.each(ENGINES)('a grant request id is bound to one capability, and an unanswered one times out (%s)', (engine) => {
  let b: TestBroker | null = null;
  let clock: TestClock | null = null;
  afterEach(async () => {
    clock?.dispose();
    clock = null;
    await b?.destroy();
    b = null;
  });

  it('a reused request id is refused and not forwarded; the answer must name what was asked', async () => {
    b = await startTestBroker(engine);
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control', 'clipboard'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'grant.request', request_id: 'r7', capability: 'clipboard' });
    expect(await eu.nextOfType('grant.request')).toEqual({ type: 'grant.request', request_id: 'r7', capability: 'clipboard', mfa_at: expect.any(Number), direction: 'both' });
    an.sendJson({ type: 'grant.request', request_id: 'r7', capability: 'control' });
    expect((await an.nextOfType('error')).code).toBe('duplicate_request');
    await settle();
    expect(eu.frames.filter((f) => f.type === 'grant.request')).toEqual([]);
    // An Allow for something other than what was shown changes nothing; the socket stays open.
    eu.sendJson({ type: 'grant.response', request_id: 'r7', capability: 'control', allow: true });
    expect((await eu.nextOfType('error')).code).toBe('grant_mismatch');
    eu.sendJson({ type: 'grant.response', request_id: 'r7', capability: 'clipboard', allow: true });
    expect(await an.nextOfType('grant.changed')).toMatchObject({ capability: 'clipboard', granted: true, by: 'end_user', request_id: 'r7' });
    expect(eu.closeCode).toBeNull();
    const grants = await b.ctx.storage.db.selectFrom('grants').select(['capability', 'state']).where('session_id', '=', s.id).execute();
    expect(grants).toEqual([{ capability: 'clipboard', state: 'granted' }]);
    // Once answered, the id stays taken.
    an.sendJson({ type: 'grant.request', request_id: 'r7', capability: 'control' });
    expect((await an.nextOfType('error')).code).toBe('duplicate_request');
    const refused = (await audited(b, s.id, 'grant.refused')).map((m) => m.why);
    expect(refused).toEqual(['request id already used', 'answer names another capability', 'request id already used']);
    eu.close();
    an.close();
  });

  it('a request id stays bound across a broker restart', async () => {
    b = await startTestBroker(engine);
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control', 'clipboard'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'grant.request', request_id: 'g1', capability: 'clipboard' });
    await eu.nextOfType('grant.request');
    eu.sendJson({ type: 'grant.response', request_id: 'g1', capability: 'clipboard', allow: false });
    await an.nextOfType('grant.changed');
    b = await b.restart();
    const eu2 = await SignalingClient.connect(b.url, s.endUserToken, s.endUser.device);
    const an2 = await SignalingClient.connect(b.url, s.analystToken, analyst.api.device);
    an2.sendJson({ type: 'grant.request', request_id: 'g1', capability: 'control' });
    expect((await an2.nextOfType('error')).code).toBe('duplicate_request');
    await settle();
    expect(eu2.frames.filter((f) => f.type === 'grant.request')).toEqual([]);
    eu2.close();
    an2.close();
  });

  it('a request nobody answers times out after the prompt time plus 2 s; both sides are told why', async () => {
    clock = new TestClock();
    b = await startTestBroker(engine, { clock, policy: { control_prompt_seconds: 10 } as never });
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'grant.request', request_id: 'slow', capability: 'control' });
    await eu.nextOfType('grant.request');
    await clock.advance(11_000);
    eu.sendJson({ type: 'heartbeat' });
    await settle(100);
    expect(an.frames.filter((f) => f.type === 'grant.changed')).toEqual([]);
    await clock.advance(1_500);
    const told = { type: 'grant.changed', capability: 'control', granted: false, by: 'broker', request_id: 'slow', reason: 'timeout' };
    expect(await an.nextOfType('grant.changed')).toEqual(told);
    expect(await eu.nextOfType('grant.changed')).toEqual(told);
    const g = await b.ctx.storage.db.selectFrom('grants').select(['capability', 'state']).where('session_id', '=', s.id).execute();
    expect(g).toEqual([{ capability: 'control', state: 'denied' }]);
    expect(await audited(b, s.id, 'grant.timed_out')).toEqual([{ capability: 'control', request_id: 'slow', after_s: 12 }]);
    // A late Allow finds nothing to answer.
    eu.sendJson({ type: 'grant.response', request_id: 'slow', capability: 'control', allow: true });
    expect((await eu.nextOfType('error')).code).toBe('unknown_request');
    expect((await b.ctx.storage.db.selectFrom('grants').select('state').where('session_id', '=', s.id).executeTakeFirstOrThrow()).state).toBe('denied');
    eu.close();
    an.close();
  });
});
