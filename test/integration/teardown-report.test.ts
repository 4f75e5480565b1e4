import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyStoredLog } from '../../broker/audit/verify.js';
import { ApiClient } from '../../kit/api.js';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession, connectBoth, teardownReceipt, type ActiveSession } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';
import { TestClock } from '../helpers/clock.js';

async function reports(b: TestBroker, sessionId: string) {
  await b.ctx.audit.flush();
  const rows = await b.ctx.storage.db.selectFrom('audit_events').select(['type', 'meta']).where('session_id', '=', sessionId).where('type', 'like', 'client.teardown_report%').orderBy('seq').execute();
  return rows.map((r) => ({ type: r.type, meta: JSON.parse(r.meta) as Record<string, unknown> }));
}

/**
 * The end user's teardown report arrives on every end path: it is signed by the end user's device
 * key, taken on the socket the broker keeps open for it after session.ended (up to 2 s), or over
 * HTTP until 10 minutes after the end, once per session and kind; `audit verify` checks it.
 */
describe.each(ENGINES)("the end user's signed teardown report (%s)", (engine) => {
  let b: TestBroker | null = null;
  let clock: TestClock | null = null;
  afterEach(async () => {
    clock?.dispose();
    clock = null;
    await b?.destroy();
    b = null;
  });

  async function live(opts: { clock?: TestClock } = {}): Promise<{ b: TestBroker; analyst: TestUser; admin: TestUser; s: ActiveSession; eu: SignalingClient; an: SignalingClient }> {
    b = await startTestBroker(engine, opts.clock ? { clock: opts.clock, policy: { heartbeat_timeout_seconds: 300 } } : {});
    const analyst = await createUser(b, 'alice', ['analyst']);
    const admin = await createUser(b, 'root', ['admin']);
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    return { b, analyst, admin, s, eu, an };
  }

  for (const how of ['the analyst ends it', 'the kill switch'] as const) {
    it(`${how}: the end user's socket stays open for the report, which lands in the audit with its receipt`, async () => {
      const w = await live();
      if (how === 'the analyst ends it') w.an.sendJson({ type: 'end' });
      else expect((await w.admin.api.post(`/api/v1/sessions/${w.s.id}/kill`, {})).status).toBe(200);
      await w.eu.nextOfType('session.ended');
      // What a client does on hearing the end: tear down, then report.
      await new Promise((r) => setTimeout(r, 150));
      expect(w.eu.closeCode).toBeNull();
      const receipt = await teardownReceipt(w.s.endUser.device, w.s.id, ['control', 'capture']);
      w.eu.sendJson({ type: 'teardown.report', revoked: ['control', 'capture'], receipt });
      expect(await w.eu.closed()).toBe(4000);
      expect(await reports(w.b, w.s.id)).toEqual([{ type: 'client.teardown_report', meta: { revoked: ['capture', 'control'], after_crash: false, receipt } }]);
      const v = await verifyStoredLog({ dataDir: w.b.dataDir, databaseUrl: w.b.engine === 'postgres' ? (await import('../../kit/broker.js')).PG_URL : undefined, pgSchema: w.b.pgSchema });
      expect(v.ok).toBe(true);
    });
  }

  it('without a report the socket closes 2 s after session.ended', async () => {
    const w = await live();
    w.an.sendJson({ type: 'end' });
    await w.eu.nextOfType('session.ended');
    const at = Date.now();
    expect(await w.eu.closed(4000)).toBe(4000);
    expect(Date.now() - at).toBeGreaterThan(1500);
  });

  it('over HTTP after the end: taken once per kind, for 10 minutes', async () => {
    clock = new TestClock();
    const w = await live({ clock });
    expect((await w.analyst.api.post(`/api/v1/sessions/${w.s.id}/end`, {})).status).toBe(200);
    const post = async (revoked: string[], afterCrash: boolean, api: ApiClient = w.s.endUser) =>
      api.post('/api/v1/join/teardown-report', { session_id: w.s.id, revoked, after_crash: afterCrash, receipt: await teardownReceipt(api.device, w.s.id, revoked, afterCrash) });
    expect((await post(['capture'], false)).status).toBe(200);
    const again = await post(['capture'], false);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_reported');
    // Another device is not this session's end user, whatever it signs.
    expect((await post(['capture'], true, new ApiClient(w.b.url, new DeviceKey()))).status).toBe(403);
    await clock.advance(10 * 60_000 + 5_000);
    const late = await post(['control'], true);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('report_window_closed');
    expect((await reports(w.b, w.s.id)).map((r) => r.type)).toEqual(['client.teardown_report', 'client.teardown_report_refused', 'client.teardown_report_refused', 'client.teardown_report_refused']);
  });

  it('a report whose receipt does not say what the report says, or is not the device\'s, is refused', async () => {
    const w = await live();
    const dev = w.s.endUser.device;
    const sign = (claims: Record<string, unknown>, key: DeviceKey = dev, typ = 'chaperone-teardown+jwt') => key.sign(typ, { sid: w.s.id, revoked: ['control'], after_crash: false, jti: crypto.randomUUID(), ...claims });
    const cases: [string, Promise<string>, string[]][] = [
      ['another key', sign({}, new DeviceKey()), ['control']],
      ['another session', sign({ sid: crypto.randomUUID() }), ['control']],
      ['another list', sign({ revoked: ['capture'] }), ['control']],
      ['unsorted', sign({ revoked: ['control', 'capture'] }), ['control', 'capture']],
      ['another type', sign({}, dev, 'chaperone-consent+jwt'), ['control']],
      ['no jti', sign({ jti: undefined }), ['control']],
    ];
    for (const [name, receipt, revoked] of cases) {
      w.eu.sendJson({ type: 'teardown.report', revoked, receipt: await receipt });
      expect((await w.eu.nextOfType('error')).code, name).toBe('bad_receipt');
    }
    const body = { session_id: w.s.id, revoked: ['control'], after_crash: true, receipt: await sign({}) };
    const r = await w.s.endUser.post('/api/v1/join/teardown-report', body);
    expect(r.status).toBe(400);
    expect((await w.s.endUser.post('/api/v1/join/teardown-report', { ...body, receipt: undefined })).status).toBe(400);
    expect((await reports(w.b, w.s.id)).every((x) => x.type === 'client.teardown_report_refused')).toBe(true);
  });

  it('`audit verify` fails on a teardown report the end user did not sign, even in an intact chain', async () => {
    const w = await live();
    w.an.sendJson({ type: 'end' });
    await w.eu.nextOfType('session.ended');
    const forged = await teardownReceipt(new DeviceKey(), w.s.id, []);
    // What a broker could write on its own: a well-chained, well-signed event with a receipt it made up.
    await w.b.ctx.audit.append({ type: 'client.teardown_report', outcome: 'success', actor: 'end_user:x', session_id: w.s.id, meta: { revoked: [], after_crash: false, receipt: forged } });
    await w.b.ctx.audit.flush();
    const { PG_URL } = await import('../../kit/broker.js');
    const v = await verifyStoredLog({ dataDir: w.b.dataDir, databaseUrl: w.b.engine === 'postgres' ? PG_URL : undefined, pgSchema: w.b.pgSchema });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.first_bad.problem).toMatch(/not signed by the session's end-user device key/);
  });

  it('`end` may say why a client ends by itself', async () => {
    const w = await live();
    w.eu.sendJson({ type: 'end', reason: 'verification_failed' });
    expect((await w.an.nextOfType('session.ended')).reason).toBe('verification_failed');
    const s2 = await activeSession(w.b, w.analyst);
    const two = await connectBoth(w.b, w.analyst, s2);
    two.an.sendJson({ type: 'end', reason: 'peer_lost' });
    expect((await two.eu.nextOfType('session.ended')).reason).toBe('peer_lost');
    const rows = await w.b.ctx.storage.db.selectFrom('sessions').select(['id', 'end_reason']).where('id', 'in', [w.s.id, s2.id]).execute();
    expect(Object.fromEntries(rows.map((r) => [r.id, r.end_reason]))).toEqual({ [w.s.id]: 'verification_failed', [s2.id]: 'peer_lost' });
  });
});
