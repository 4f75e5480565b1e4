import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker } from '../../kit/broker.js';

/**
 * The policy edited from the console: checked by broker.json's own schema, audited with who and
 * what changed, in force for the next request at once, kept across a restart, and followed by
 * another broker on the same database.
 */
describe.each(ENGINES)('policy editing (%s)', (engine) => {
  const brokers: TestBroker[] = [];
  afterEach(async () => {
    for (const b of brokers.splice(0).reverse()) await b.destroy();
  });

  it('an admin changes it; the next request follows it; audited with a diff; kept after a restart', async () => {
    const b = await startTestBroker(engine);
    brokers.push(b);
    const admin = await createUser(b, 'root', ['admin']);
    const alice = await createUser(b, 'alice', ['analyst']);
    const got = await admin.api.get('/api/v1/admin/policy');
    expect(got.body.version).toBe(0);
    const before = got.body.policy;
    // Before: clipboard is allowed (it waits for an approver).
    expect((await alice.api.post('/api/v1/sessions', { ticket: 'INC-1', reason: 'printer', capabilities: ['view', 'clipboard'], duration_minutes: 5 })).status).toBe(200);

    const next = { ...before, denied_capabilities: ['clipboard'], step_up_minutes: 5, max_duration_minutes: 30 };
    const saved = await admin.api.post('/api/v1/admin/policy', { policy: next, version: 0 });
    expect(saved.status, JSON.stringify(saved.body)).toBe(200);
    expect(saved.body.version).toBe(1);
    expect(saved.body.changed.sort()).toEqual(['denied_capabilities', 'max_duration_minutes', 'step_up_minutes']);
    const refused = await alice.api.post('/api/v1/sessions', { ticket: 'INC-2', reason: 'printer', capabilities: ['view', 'clipboard'], duration_minutes: 5 });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('capability_denied_by_policy');
    expect((await alice.api.post('/api/v1/sessions', { ticket: 'INC-3', reason: 'printer', capabilities: ['view'], duration_minutes: 45 })).status).toBe(400);

    await b.ctx.audit.flush();
    const ev = await b.ctx.storage.db.selectFrom('audit_events').selectAll().where('type', '=', 'policy.changed').execute();
    expect(ev).toHaveLength(1);
    expect(ev[0]!.actor).toBe('account:root');
    const meta = JSON.parse(String(ev[0]!.meta));
    expect(meta.diff).toContain('step_up_minutes: 10 -> 5');
    expect(meta.diff).toContain('denied_capabilities: [] -> ["clipboard"]');

    const again = await b.restart();
    brokers[0] = again;
    expect(again.ctx.cfg.policy.step_up_minutes).toBe(5);
  });

  it('refuses what broker.json would refuse, and a save made from an older version', async () => {
    const b = await startTestBroker(engine);
    brokers.push(b);
    const admin = await createUser(b, 'root', ['admin']);
    const p = (await admin.api.get('/api/v1/admin/policy')).body.policy;
    const tooLong = await admin.api.post('/api/v1/admin/policy', { policy: { ...p, max_duration_minutes: 300, hard_max_minutes: 240 }, version: 0 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain('max_duration_minutes must not exceed hard_max_minutes');
    const unknown = await admin.api.post('/api/v1/admin/policy', { policy: { ...p, allow_everything: true }, version: 0 });
    expect(unknown.status).toBe(400);
    const badText = await admin.api.post('/api/v1/admin/policy', { policy: { ...p, organisation: 'Acme\u202e' }, version: 0 });
    expect(badText.status).toBe(400);
    expect(b.ctx.cfg.policy.max_duration_minutes).toBe(60);

    expect((await admin.api.post('/api/v1/admin/policy', { policy: { ...p, step_up_minutes: 7 }, version: 0 })).status).toBe(200);
    // A second admin's screen still shows version 0.
    const stale = await admin.api.post('/api/v1/admin/policy', { policy: { ...p, step_up_minutes: 20 }, version: 0 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('policy_changed_meanwhile');
    expect(b.ctx.cfg.policy.step_up_minutes).toBe(7);
  });

  it.runIf(engine === 'postgres')('another broker on the same database follows within seconds', async () => {
    const b = await startTestBroker(engine);
    brokers.push(b);
    const other = await startTestBroker(engine, {}, { dataDir: b.dataDir, pgSchema: b.pgSchema! });
    try {
      const admin = await createUser(b, 'root', ['admin']);
      const p = (await admin.api.get('/api/v1/admin/policy')).body.policy;
      expect((await admin.api.post('/api/v1/admin/policy', { policy: { ...p, require_open_ticket: true }, version: 0 })).status).toBe(200);
      await expect.poll(() => other.ctx.cfg.policy.require_open_ticket, { timeout: 5000 }).toBe(true);
    } finally {
      await other.close();
    }
  });
});
