import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { requestSession } from '../../kit/lifecycle.js';

/**
 * Who a run of wrong join codes locks out (issue 13). Every client here comes from one address,
 * as an office behind one NAT does: the person who keeps mistyping is locked out alone, with how
 * long to wait; a guesser who makes a new device key for every guess is still bounded per address,
 * and the global bound holds across addresses, at once and across a restart.
 */
describe.each(ENGINES)('join-code lockout keying on %s', (engine) => {
  let b: TestBroker | undefined;
  afterAll(async () => b?.destroy());

  const wrong = (i: number) => `ZZZZZ-Z${String(i).padStart(4, '0').replace(/[^0-9]/g, '0')}`;
  const from = (api: ApiClient, code: string, ip?: string) => api.call('POST', '/api/v1/join', { code }, ip ? { headers: { 'x-forwarded-for': ip } } : {});
  async function liveCode(analyst: TestUser): Promise<{ id: string; code: string }> {
    const s = await requestSession(analyst);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    return { id: s.id, code: c.body.code };
  }

  it('one mistyping user is locked out alone; the analyst learns it when they type the right code', async () => {
    b = await startTestBroker(engine);
    const analyst = await createUser(b, 'alice', ['analyst']);
    const mistyper = new ApiClient(b.url, new DeviceKey());
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await from(mistyper, wrong(i))).status);
    expect(statuses).toEqual([...Array<number>(10).fill(404), 429, 429]);

    // Their colleague at the next desk, behind the same address, joins with the code read to them.
    const colleague = await liveCode(analyst);
    expect((await from(new ApiClient(b.url, new DeviceKey()), colleague.code)).status).toBe(200);

    // The mistyper now has the right code: still refused, told how long to wait, and the analyst is told.
    const theirs = await liveCode(analyst);
    const refused = await from(mistyper, theirs.code);
    expect(refused.status).toBe(429);
    expect(refused.body.error.retry_after_s).toBeGreaterThan(500);
    expect(refused.body.error.retry_after_s).toBeLessThanOrEqual(600);
    expect(Number(refused.headers.get('retry-after'))).toBe(refused.body.error.retry_after_s);
    const seen = await analyst.api.get(`/api/v1/sessions/${theirs.id}`);
    expect(seen.body.state).toBe('code_issued');
    expect(seen.body.join_locked_until).toBeGreaterThan(Date.now() + 500_000);
    // Other sessions are not marked.
    expect((await analyst.api.get(`/api/v1/sessions/${colleague.id}`)).body.join_locked_until).toBeNull();
    await b.ctx.audit.flush();
    const audited = await b.ctx.storage.db.selectFrom('audit_events').select(['session_id', 'meta']).where('type', '=', 'join.rate_limited').where('session_id', '=', theirs.id).execute();
    expect(audited).toHaveLength(1);
    expect(JSON.parse(audited[0]!.meta)).toMatchObject({ scope: 'device' });

    // Counted in the database: a restart does not free the mistyper.
    b = await b.restart();
    expect((await from(Object.assign(mistyper, { baseUrl: b.url }), theirs.code)).status).toBe(429);
    await b.destroy();
    b = undefined;
  });

  it('a guesser with a new device key per guess is bounded per address, also when the guesses arrive together', async () => {
    b = await startTestBroker(engine);
    const analyst = await createUser(b, 'alice', ['analyst']);
    const target = await liveCode(analyst);
    const at = await Promise.all(Array.from({ length: 45 }, (_, i) => from(new ApiClient(b!.url, new DeviceKey()), wrong(i))));
    const evaluated = at.filter((r) => r.status === 404).length;
    expect(evaluated).toBe(30);
    expect(at.filter((r) => r.status === 429).length).toBe(15);
    // Even the right code from that address now waits, whichever device sends it.
    expect((await from(new ApiClient(b.url, new DeviceKey()), target.code)).status).toBe(429);
    await b.destroy();
    b = undefined;
  });

  it('guesses spread over many addresses stay under the global bound', async () => {
    b = await startTestBroker(engine, { file: { trusted_proxies: ['127.0.0.1'], rate_limits: { join_failures_global: 40 } as never } });
    const at = await Promise.all(
      Array.from({ length: 80 }, (_, i) => from(new ApiClient(b!.url, new DeviceKey()), wrong(i), `198.51.100.${i % 8}`)),
    );
    expect(at.filter((r) => r.status === 404).length).toBe(40);
    b = await b.restart();
    expect((await from(new ApiClient(b.url, new DeviceKey()), wrong(99), '203.0.113.9')).status).toBe(429);
  });
});
