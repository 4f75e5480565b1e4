/**
 * Clipboard and files are asked for one by one with the way data may go, and the way is part of
 * the grant: the end user is asked exactly it, must answer it, and the audit records it with each
 * decision. The organisation's policy can forbid either: requests naming it are refused, and so
 * are grant requests in a session approved before the policy said so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';

async function audited(b: TestBroker, sessionId: string | null, type: string): Promise<Record<string, unknown>[]> {
  await b.ctx.audit.flush();
  let q = b.ctx.storage.db.selectFrom('audit_events').select('meta').where('type', '=', type);
  if (sessionId) q = q.where('session_id', '=', sessionId);
  const rows = await q.orderBy('seq').execute();
  return rows.map((r) => JSON.parse(r.meta) as Record<string, unknown>);
}

describe.each(ENGINES)('grants with a direction, and policy that forbids them (%s)', (engine) => {
  let b: TestBroker | null = null;
  afterEach(async () => {
    await b?.destroy();
    b = null;
  });

  it('the direction travels to the end user, must be answered as asked, and is in every audit record', async () => {
    b = await startTestBroker(engine);
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control', 'clipboard', 'files'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);

    an.sendJson({ type: 'grant.request', request_id: 'f1', capability: 'files', direction: 'to_end_user' });
    expect(await eu.nextOfType('grant.request')).toEqual({ type: 'grant.request', request_id: 'f1', capability: 'files', direction: 'to_end_user', mfa_at: expect.any(Number) });
    // An Allow for the other way is not what was shown: refused, the request stays open.
    eu.sendJson({ type: 'grant.response', request_id: 'f1', capability: 'files', direction: 'both', allow: true });
    expect((await eu.nextOfType('error')).code).toBe('grant_mismatch');
    eu.sendJson({ type: 'grant.response', request_id: 'f1', capability: 'files', direction: 'to_end_user', allow: true });
    expect(await an.nextOfType('grant.changed')).toEqual({ type: 'grant.changed', capability: 'files', direction: 'to_end_user', granted: true, by: 'end_user', request_id: 'f1' });

    an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'clipboard', direction: 'from_end_user' });
    expect(await eu.nextOfType('grant.request')).toMatchObject({ capability: 'clipboard', direction: 'from_end_user' });
    eu.sendJson({ type: 'grant.response', request_id: 'c1', capability: 'clipboard', direction: 'from_end_user', allow: false });
    expect(await an.nextOfType('grant.changed')).toMatchObject({ capability: 'clipboard', direction: 'from_end_user', granted: false });

    // Control has no direction: a request naming one is refused and not forwarded.
    an.sendJson({ type: 'grant.request', request_id: 'k1', capability: 'control', direction: 'both' });
    expect((await an.nextOfType('error')).code).toBe('bad_direction');

    eu.sendJson({ type: 'grant.revoke', capability: 'files' });
    expect(await an.nextOfType('grant.changed')).toMatchObject({ capability: 'files', direction: 'to_end_user', granted: false, by: 'end_user' });

    expect(await audited(b, s.id, 'grant.requested')).toEqual([
      { capability: 'files', direction: 'to_end_user', request_id: 'f1' },
      { capability: 'clipboard', direction: 'from_end_user', request_id: 'c1' },
    ]);
    expect(await audited(b, s.id, 'grant.granted')).toEqual([{ capability: 'files', direction: 'to_end_user', request_id: 'f1' }]);
    expect(await audited(b, s.id, 'grant.denied')).toEqual([{ capability: 'clipboard', direction: 'from_end_user', request_id: 'c1' }]);
    expect(await audited(b, s.id, 'grant.revoked')).toEqual([{ capability: 'files', direction: 'to_end_user', by: 'end_user' }]);
    expect((await audited(b, s.id, 'grant.refused')).map((m) => [m.why, m.direction, m.asked_direction])).toEqual([
      ['answer names another direction', 'both', 'to_end_user'],
      ['direction not applicable', 'both', undefined],
    ]);
    eu.close();
    an.close();
  });

  it("policy's denied_capabilities: a session asking for files is refused; a grant request for clipboard in an older session too", async () => {
    b = await startTestBroker(engine);
    const analyst = await createUser(b, 'alice', ['analyst']);
    const approver = await createUser(b, 'bob', ['approver']);
    // Approved while clipboard was still allowed...
    const s = await activeSession(b, analyst, { caps: ['view', 'clipboard'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    // ...then the administrator forbids clipboard and files.
    b.ctx.cfg.policy.denied_capabilities = ['clipboard', 'files'];
    an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'clipboard', direction: 'both' });
    const err = await an.nextOfType('error');
    expect(err.code).toBe('capability_denied_by_policy');
    expect(eu.frames.filter((f) => f.type === 'grant.request')).toEqual([]);

    const r = await analyst.api.post('/api/v1/sessions', { ticket: 'INC-9', reason: 'printer', capabilities: ['view', 'files'], duration_minutes: 15 });
    expect(r.status).toBe(403);
    expect((r.body as { error: { code: string; message: string } }).error).toMatchObject({ code: 'capability_denied_by_policy', message: 'policy does not allow files in a session' });
    expect((await audited(b, null, 'session.request_refused')).at(-1)).toMatchObject({ code: 'capability_denied_by_policy', capabilities: ['view', 'files'] });
    expect((await audited(b, s.id, 'grant.refused')).at(-1)).toMatchObject({ capability: 'clipboard', direction: 'both', why: 'denied by policy' });
    eu.close();
    an.close();
  });
});
