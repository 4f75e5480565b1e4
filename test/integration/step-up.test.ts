import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, createUser, freshTotp, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';
import { TestClock } from '../helpers/clock.js';

/**
 * Step-up before control: a second factor older than policy.step_up_minutes (default 10) refuses a
 * request for control (or files) until the analyst confirms with a fresh authenticator code; the
 * end user's prompt is told when that was. Clipboard and chat do not need it. What counts is the
 * broker's record of the account, not anything the analyst's client says.
 */
describe.each(ENGINES)('step-up before control (%s)', (engine) => {
  let b: TestBroker | null = null;
  let clock: TestClock | null = null;
  afterEach(async () => {
    clock?.dispose();
    clock = null;
    await b?.destroy();
    b = null;
  });

  it('a stale second factor refuses control until a fresh code; the end user learns how fresh it is', async () => {
    // Time moves on by a minute so the sign-in's TOTP steps are behind (a code is good once per step).
    clock = new TestClock();
    b = await startTestBroker(engine, { clock, policy: { heartbeat_timeout_seconds: 300 } });
    const analyst = await createUser(b, 'sam', ['analyst']);
    const approver = await createUser(b, 'pat', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control', 'clipboard'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    await clock.advance(60_000);
    // The sign-in's code was 11 minutes ago.
    const stale = b.ctx.now() - 11 * 60_000;
    await b.ctx.storage.db.updateTable('accounts').set({ mfa_at: stale }).where('username', '=', 'sam').execute();

    an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'control' });
    const refused = await an.nextOfType('error');
    expect(refused.code).toBe('step_up_required');
    expect(refused.message).toContain('control needs a second factor from the last 10 minutes and your last one was 11 minutes ago');
    // Clipboard needs no step-up and goes through.
    an.sendJson({ type: 'grant.request', request_id: 'k1', capability: 'clipboard' });
    expect((await eu.nextOfType('grant.request')).capability).toBe('clipboard');
    expect(eu.frames.filter((f) => f.type === 'grant.request' && f.capability === 'control')).toEqual([]);

    // A wrong code changes nothing; a fresh one does.
    expect((await analyst.api.post('/api/v1/auth/step-up', { totp: '000000' })).status).toBe(400);
    const code = freshTotp(analyst.totpSecret);
    const up = await analyst.api.post('/api/v1/auth/step-up', { totp: code });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(b.ctx.now() - up.body.mfa_at).toBeLessThan(5000);
    // The same code again is a replay.
    expect((await analyst.api.post('/api/v1/auth/step-up', { totp: code })).status).toBe(400);

    an.sendJson({ type: 'grant.request', request_id: 'c2', capability: 'control' });
    const ask = await eu.nextOfType('grant.request');
    expect(ask).toMatchObject({ request_id: 'c2', capability: 'control' });
    expect(Math.abs(ask.mfa_at! * 1000 - up.body.mfa_at)).toBeLessThan(1000);

    await b.ctx.audit.flush();
    const rows = await b.ctx.storage.db.selectFrom('audit_events').select(['type', 'outcome', 'meta']).where('actor', '=', 'account:sam').orderBy('seq').execute();
    const types = rows.map((r) => `${r.type}:${r.outcome}`);
    expect(types).toEqual(expect.arrayContaining(['grant.refused:denied', 'auth.step_up_failed:failure', 'auth.step_up:success', 'grant.requested:success']));
    expect(rows.some((r) => r.type === 'grant.refused' && JSON.parse(r.meta).why === 'second factor not fresh')).toBe(true);
    eu.close();
    an.close();
  });

  it('the policy sets how fresh: 1 minute refuses what 10 would allow', async () => {
    b = await startTestBroker(engine, { policy: { step_up_minutes: 1 } });
    const analyst = await createUser(b, 'sam', ['analyst']);
    const approver = await createUser(b, 'pat', ['approver']);
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    await b.ctx.storage.db.updateTable('accounts').set({ mfa_at: Date.now() - 3 * 60_000 }).where('username', '=', 'sam').execute();
    an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'control' });
    expect((await an.nextOfType('error')).message).toContain('from the last 1 minutes and your last one was 3 minutes ago');
    eu.close();
    an.close();
  });
});
