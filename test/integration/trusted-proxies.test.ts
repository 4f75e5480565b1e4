import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { createUser, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession } from '../../kit/lifecycle.js';

/** A wrong join code sent as if through a proxy that says who the client is. */
const guess = (b: TestBroker, xff?: string) => new ApiClient(b.url, new DeviceKey()).call('POST', '/api/v1/join', { code: 'ZZZZZ-ZZZZZ' }, xff ? { headers: { 'x-forwarded-for': xff } } : {});

/** The per-source limit the broker runs with (its default: the test checks the shipped setting). */
const perSource = (b: TestBroker) => b.ctx.cfg.rateLimits.join_failures_per_source;

async function sources(b: TestBroker, type: string): Promise<string[]> {
  await b.ctx.audit.flush();
  const rows = await b.ctx.storage.db.selectFrom('audit_events').select('source').where('type', '=', type).execute();
  return rows.map((r) => r.source ?? '');
}

/**
 * Behind a proxy every client arrives from the proxy's address. `trusted_proxies` names the
 * proxies whose X-Forwarded-For counts (the rightmost address that is not a trusted proxy is the
 * client); from anyone else the header is ignored, so it cannot be used to dodge a limit.
 */
describe('trusted_proxies decides when X-Forwarded-For names the client', () => {
  let b: TestBroker | null = null;
  afterEach(async () => {
    await b?.destroy();
    b = null;
  });

  it('behind a trusted proxy, the limits and the audit see each client, not the proxy', async () => {
    b = await startTestBroker('sqlite', { file: { trusted_proxies: ['127.0.0.1'] } as never });
    for (let i = 0; i < perSource(b); i++) expect((await guess(b, '203.0.113.7')).status).toBe(404);
    expect((await guess(b, '203.0.113.7')).status).toBe(429);
    // A full count of wrong codes from one client behind the proxy does not lock the others out.
    expect((await guess(b, '203.0.113.8')).status).toBe(404);
    // The rightmost address that is not a trusted proxy: what the client put in front is not believed.
    expect((await guess(b, '203.0.113.7, 198.51.100.20')).status).toBe(404);
    const seen = await sources(b, 'join.redeem_failed');
    expect(seen).toContain('203.0.113.7');
    expect(seen).toContain('198.51.100.20');
    expect(seen).not.toContain('127.0.0.1');
  });

  it('signaling sees the client behind the proxy too', async () => {
    b = await startTestBroker('sqlite', { file: { trusted_proxies: ['127.0.0.0/8'] } as never });
    const alice = await createUser(b, 'alice', ['analyst']);
    await activeSession(b, alice);
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/api/v1/signaling`, { headers: { 'x-forwarded-for': '192.0.2.44' } });
    await new Promise((r) => ws.once('message', r));
    ws.send(JSON.stringify({ type: 'heartbeat' }));
    await new Promise((r) => ws.once('close', r));
    expect(await sources(b, 'signaling.frame_refused')).toContain('192.0.2.44');
  });

  it('without trusted proxies a forged X-Forwarded-For is ignored and does not dodge the limit', async () => {
    b = await startTestBroker('sqlite');
    for (let i = 0; i < perSource(b); i++) expect((await guess(b, `198.51.100.${i}`)).status).toBe(404);
    expect((await guess(b, '198.51.100.200')).status).toBe(429);
    expect(new Set(await sources(b, 'join.redeem_failed'))).toEqual(new Set(['127.0.0.1']));
  });

  it('from a peer that is not a trusted proxy the header is ignored', async () => {
    b = await startTestBroker('sqlite', { file: { trusted_proxies: ['10.0.0.0/8', '::1'] } as never });
    for (let i = 0; i < perSource(b); i++) expect((await guess(b, `198.51.100.${i}`)).status).toBe(404);
    expect((await guess(b, '198.51.100.200')).status).toBe(429);
    expect(new Set(await sources(b, 'join.redeem_failed'))).toEqual(new Set(['127.0.0.1']));
  });

  it('an entry that is not an address or CIDR is refused at start with a clear message', async () => {
    await expect(startTestBroker('sqlite', { file: { trusted_proxies: ['proxy.example.com'] } as never })).rejects.toThrow(/trusted_proxies\.0 .*address or CIDR/);
    await expect(startTestBroker('sqlite', { file: { trusted_proxies: ['10.0.0.0/33'] } as never })).rejects.toThrow(/trusted_proxies/);
  });
});
