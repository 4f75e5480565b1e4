import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker } from '../../kit/broker.js';

/**
 * An admin's retry of a webhook delivery that failed after its schedule: one more attempt now,
 * audited with the admin; a failure puts it back to failed; only a failed one can be retried.
 */
describe.each(ENGINES)('retrying a failed webhook delivery by hand (%s)', (engine) => {
  let b: TestBroker | null = null;
  let server: http.Server | null = null;
  afterEach(async () => {
    await b?.destroy();
    b = null;
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = null;
  });

  it('failed, retried (still failing), retried again (the receiver is back): delivered; each retry audited', async () => {
    let answer = 500;
    const got: string[] = [];
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push(body);
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    // No automatic retries: the first failure is final, as after the whole schedule.
    b = await startTestBroker(engine, { hookRetryDelaysS: [], file: { hooks: [{ url, secret: 's'.repeat(16), events: ['session.ended'] }] } as never });
    const admin = await createUser(b, 'root', ['admin']);
    const rows = b.ctx.hooks.deliveries('session.ended', { session_id: 'example' });
    await b.ctx.storage.db.insertInto('hook_deliveries').values(rows).execute();
    b.ctx.hooks.kick(0);
    const id = rows[0]!.id;
    const status = async () => (await admin.api.get('/api/v1/admin/hook-deliveries')).body.deliveries.find((d: { id: string }) => d.id === id);
    await expect.poll(async () => (await status())?.status, { timeout: 5000 }).toBe('failed');
    expect((await status()).last_error).toBe('HTTP 500');

    expect((await admin.api.post(`/api/v1/admin/hook-deliveries/${id}/retry`, {})).body).toEqual({ id, status: 'pending' });
    await expect.poll(async () => (await status())?.status, { timeout: 5000 }).toBe('failed');
    expect((await status()).attempts).toBe(2);

    answer = 204;
    expect((await admin.api.post(`/api/v1/admin/hook-deliveries/${id}/retry`, {})).status).toBe(200);
    await expect.poll(async () => (await status())?.status, { timeout: 5000 }).toBe('delivered');
    expect(got).toHaveLength(3);
    // The same event each time (the receiver can tell a retry by its id).
    expect(new Set(got.map((g) => JSON.parse(g).id)).size).toBe(1);

    const done = await admin.api.post(`/api/v1/admin/hook-deliveries/${id}/retry`, {});
    expect(done.status).toBe(409);
    expect(done.body.error.code).toBe('not_failed');
    await b.ctx.audit.flush();
    const retried = await b.ctx.storage.db.selectFrom('audit_events').select(['actor']).where('type', '=', 'hook.retried').execute();
    expect(retried.map((r) => r.actor)).toEqual(['account:root', 'account:root']);
  });
});
