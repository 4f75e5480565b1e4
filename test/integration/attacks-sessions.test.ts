import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { createUser, login, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { TestClock } from '../helpers/clock.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession, connectBoth, consent, redeem, requestSession } from '../../kit/lifecycle.js';

async function audited(b: TestBroker, type: string): Promise<{ meta: string; outcome: string; session_id: string | null }[]> {
  await b.ctx.audit.flush();
  return b.ctx.storage.db.selectFrom('audit_events').select(['meta', 'outcome', 'session_id']).where('type', '=', type).execute();
}

describe('approval and join code attacks', () => {
  let b: TestBroker;
  let clock: TestClock;
  let analyst: TestUser;
  let dual: TestUser;
  let approver: TestUser;

  beforeAll(async () => {
    clock = new TestClock();
    b = await startTestBroker('sqlite', { clock, policy: { approval_window_minutes: 5 } });
    analyst = await createUser(b, 'alice', ['analyst']);
    dual = await createUser(b, 'dana', ['analyst', 'approver']);
    approver = await createUser(b, 'bob', ['approver']);
  });
  afterAll(async () => {
    clock.dispose();
    await b?.destroy();
  });

  it('an approver cannot approve their own request', async () => {
    const s = await requestSession(dual, ['view', 'control']);
    const res = await dual.api.post(`/api/v1/sessions/${s.id}/approve`, {});
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('self_approval');
    expect((await dual.api.get(`/api/v1/sessions/${s.id}`)).body.state).toBe('awaiting_approval');
    expect((await audited(b, 'session.action_denied')).some((e) => e.session_id === s.id && e.meta.includes('self_approval'))).toBe(true);
  });

  it('an approval not used within its window lapses', async () => {
    const s = await requestSession(analyst, ['view', 'control']);
    expect((await approver.api.post(`/api/v1/sessions/${s.id}/approve`, {})).status).toBe(200);
    await clock.advance(5 * 60_000 + 1000);
    await login(analyst);
    const code = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    expect(code.status).toBe(409);
    const v = await analyst.api.get(`/api/v1/sessions/${s.id}`);
    expect(v.body).toMatchObject({ state: 'ended', end_reason: 'expired' });
  });

  it('a code works once; a second use and a use after expiry are refused', async () => {
    const s = await requestSession(analyst);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    const first = await redeem(b, c.body.code);
    expect(first.res.status).toBe(200);
    const second = await redeem(b, c.body.code);
    expect(second.res.status).toBe(404);
    expect(second.res.body.error.code).toBe('invalid_code');

    const s2 = await requestSession(analyst);
    const c2 = await analyst.api.post(`/api/v1/sessions/${s2.id}/code`, {});
    await clock.advance(10 * 60_000 + 1000);
    await login(analyst);
    const late = await redeem(b, c2.body.code);
    expect(late.res.status).toBe(404);
    expect((await analyst.api.get(`/api/v1/sessions/${s2.id}`)).body).toMatchObject({ state: 'ended', end_reason: 'code_expired' });
  });

  it('a consent receipt that claims more than consent covers is refused, audited, and the session does not start', async () => {
    // The test before moved the clock past the approver's access token.
    await login(approver);
    const s = await requestSession(analyst, ['view', 'control']);
    const approved = await approver.api.post(`/api/v1/sessions/${s.id}/approve`, {});
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    const { api, res } = await redeem(b, c.body.code);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const offerHash = crypto.createHash('sha256').update(res.body.offer).digest('base64url');
    for (const forged of [['view', 'control'], ['view', 'files'], 'view', [{ toString: 'view' }], ['view', 'view']]) {
      const receipt = await api.device.sign('chaperone-consent+jwt', { sid: s.id, offer_hash: offerHash, decision: 'accept', accepted_capabilities: forged });
      const r = await api.post('/api/v1/join/consent', { session_id: s.id, receipt });
      expect(r.status, JSON.stringify(forged)).toBe(400);
      expect(r.body.error.code).toBe('bad_receipt');
    }
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.state).toBe('pending_consent');
    expect((await audited(b, 'consent.receipt_rejected')).filter((e) => e.session_id === s.id).length).toBe(5);
    // The honest receipt still works afterwards.
    const ok = await consent(api, s.id, res.body.offer);
    expect(ok.body.accepted).toBe(true);
  });

  it('two clients redeeming one code at the same moment: exactly one wins', async () => {
    const s = await requestSession(analyst);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    const results = await Promise.all(Array.from({ length: 8 }, () => redeem(b, c.body.code)));
    const statuses = results.map((r) => r.res.status).sort();
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    expect(statuses.filter((x) => x === 404)).toHaveLength(7);
    const winner = results.find((r) => r.res.status === 200)!;
    const row = await b.ctx.storage.db.selectFrom('sessions').select(['state', 'end_user_jkt']).where('id', '=', s.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'pending_consent', end_user_jkt: await winner.api.device.jkt() });
  });

  it('guessing beyond the per-source limit is refused, even with a right code', async () => {
    const s = await requestSession(analyst);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    const guesser = new ApiClient(b.url, new DeviceKey());
    let refused = 0;
    for (let i = 0; i < 12; i++) {
      const res = await guesser.post('/api/v1/join', { code: `ZZZZZ-ZZZ${String(i).padStart(2, '0').replace(/[^0-9]/g, '0')}` });
      if (res.status === 429) refused++;
      else expect(res.status).toBe(404);
    }
    expect(refused).toBeGreaterThanOrEqual(2);
    const right = await guesser.post('/api/v1/join', { code: c.body.code });
    expect(right.status).toBe(429);
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.state).toBe('code_issued');
    expect((await audited(b, 'join.rate_limited')).length).toBeGreaterThanOrEqual(3);
  });
});

describe('signaling frame attacks', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let approver: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    approver = await createUser(b, 'bob', ['approver']);
  });
  afterAll(async () => b?.destroy());

  it('binary, non-JSON, unknown and oversized frames close the socket with a clear code', async () => {
    const cases: [string, (ws: import('ws').WebSocket) => void, number][] = [
      ['binary', (ws) => ws.send(Buffer.from([1, 2, 3])), 4002],
      ['non-JSON', (ws) => ws.send('{not json'), 4002],
      ['unknown type', (ws) => ws.send(JSON.stringify({ type: 'become_admin' })), 4002],
      ['extra field', (ws) => ws.send(JSON.stringify({ type: 'heartbeat', role: 'analyst' })), 4002],
      ['oversized', (ws) => ws.send(JSON.stringify({ type: 'signal', payload: { kind: 'offer', sdp: 'x'.repeat(70 * 1024) } })), 1009],
    ];
    for (const [name, send, code] of cases) {
      const s = await activeSession(b, analyst);
      const { eu, an } = await connectBoth(b, analyst, s);
      send(an.ws);
      expect(await an.closed(), name).toBe(code);
      // The session itself is untouched and the other side still connected.
      expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.state, name).toBe('active');
      expect(eu.closeCode, name).toBeNull();
      eu.close();
    }
    const refused = await audited(b, 'signaling.frame_refused');
    const codes = refused.map((r) => JSON.parse(r.meta).code);
    expect(codes).toEqual(expect.arrayContaining(['binary_frame', 'invalid_json', 'invalid_frame', 'frame_too_large']));
  });

  it('frames before auth are refused', async () => {
    const { SignalingClient } = await import('../../kit/signaling-client.js');
    const c = await SignalingClient.open(b.url);
    c.sendJson({ type: 'signal', payload: { kind: 'offer', sdp: 'x' } });
    expect(await c.closed()).toBe(4001);
  });

  it('an analyst cannot grant itself control, nor ask for a capability that was not approved', async () => {
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'grant.response', request_id: 'r1', capability: 'control', allow: true });
    expect((await an.nextOfType('error')).code).toBe('not_allowed');
    an.sendJson({ type: 'grant.request', request_id: 'r2', capability: 'control' });
    expect((await an.nextOfType('error')).code).toBe('capability_not_approved');
    const grants = await b.ctx.storage.db.selectFrom('grants').selectAll().where('session_id', '=', s.id).execute();
    expect(grants).toEqual([]);
    expect(eu.frames.filter((f) => f.type === 'grant.request' || f.type === 'grant.changed')).toEqual([]);
  });

  it('a clipboard record is taken only from the end user of a session approved for clipboard, and holds no text', async () => {
    const plain = await activeSession(b, analyst);
    const one = await connectBoth(b, analyst, plain);
    one.eu.sendJson({ type: 'clipboard.record', direction: 'from_end_user', length: 12 });
    expect((await one.eu.nextOfType('error')).code).toBe('capability_not_approved');
    one.eu.close();
    one.an.close();
    const s = await activeSession(b, analyst, { caps: ['view', 'clipboard'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'clipboard.record', direction: 'to_end_user', length: 5 });
    expect((await an.nextOfType('error')).code).toBe('not_allowed');
    eu.sendJson({ type: 'clipboard.record', direction: 'from_end_user', length: 12 });
    // A picture is recorded by type and bytes; "text" longer than text may be is not a record.
    eu.sendJson({ type: 'clipboard.record', direction: 'to_end_user', length: 40_000, kind: 'image/png' });
    eu.sendJson({ type: 'clipboard.record', direction: 'to_end_user', length: 40_000 });
    expect((await eu.nextOfType('error')).code).toBe('invalid_frame');
    await b.ctx.audit.flush();
    await expect
      .poll(async () => (await audited(b, 'clipboard.sync')).filter((r) => r.session_id === s.id).map((r) => JSON.parse(r.meta)), { timeout: 5000 })
      .toEqual([{ direction: 'from_end_user', type: 'text', length: 12 }, { direction: 'to_end_user', type: 'image/png', length: 40_000 }]);
    eu.close();
    an.close();
  });

  it('control is granted only by the end user, recorded, and revocable by them at any moment', async () => {
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'grant.request', request_id: 'req-1', capability: 'control' });
    const ask = await eu.nextOfType('grant.request');
    expect(ask).toEqual({ type: 'grant.request', request_id: 'req-1', capability: 'control', mfa_at: expect.any(Number) });
    // An answer to a request that does not exist changes nothing.
    eu.sendJson({ type: 'grant.response', request_id: 'forged', capability: 'control', allow: true });
    expect((await eu.nextOfType('error')).code).toBe('unknown_request');
    eu.sendJson({ type: 'grant.response', request_id: 'req-1', capability: 'control', allow: true });
    expect(await an.nextOfType('grant.changed')).toMatchObject({ capability: 'control', granted: true, by: 'end_user' });
    eu.sendJson({ type: 'grant.revoke', capability: 'control' });
    expect(await an.nextOfType('grant.changed')).toMatchObject({ capability: 'control', granted: false, by: 'end_user' });
    const g = await b.ctx.storage.db.selectFrom('grants').select(['capability', 'state', 'revoked_by']).where('session_id', '=', s.id).execute();
    expect(g).toEqual([{ capability: 'control', state: 'revoked', revoked_by: 'end_user' }]);
    const types = (await b.ctx.storage.db.selectFrom('audit_events').select('type').where('session_id', '=', s.id).execute()).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['grant.requested', 'grant.granted', 'grant.revoked']));
  });

  it('a flood is rate limited', async () => {
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    for (let i = 0; i < 400; i++) an.sendJson({ type: 'heartbeat' });
    const err = await an.nextOfType('error');
    expect(err.code).toBe('rate_limited');
    expect(eu.closeCode).toBeNull();
  });

  it('a grant never outlives its session', async () => {
    const s = await activeSession(b, analyst, { caps: ['view', 'control', 'clipboard'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'grant.request', request_id: 'a', capability: 'control' });
    await eu.nextOfType('grant.request');
    eu.sendJson({ type: 'grant.response', request_id: 'a', capability: 'control', allow: true });
    await an.nextOfType('grant.changed');
    an.sendJson({ type: 'grant.request', request_id: 'b', capability: 'clipboard' });
    await eu.nextOfType('grant.request');
    eu.sendJson({ type: 'end' });
    expect((await an.nextOfType('session.ended')).reason).toBe('user_stopped');
    const g = await b.ctx.storage.db.selectFrom('grants').select(['capability', 'state']).where('session_id', '=', s.id).orderBy('capability').execute();
    expect(g).toEqual([
      { capability: 'clipboard', state: 'revoked' },
      { capability: 'control', state: 'revoked' },
    ]);
    const ended = (await audited(b, 'session.ended')).find((e) => e.session_id === s.id)!;
    expect(JSON.parse(ended.meta)).toMatchObject({ reason: 'user_stopped', revoked_grants: ['control'] });
  });
});

describe('HTTP path and input attacks', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let admin: TestUser;
  let approver: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    admin = await createUser(b, 'root', ['admin']);
    approver = await createUser(b, 'bob', ['approver']);
  });
  afterAll(async () => b?.destroy());

  it('privileged routes are not reachable with a trailing slash, changed case or %2f', async () => {
    const s = await activeSession(b, analyst);
    const variants = [
      `/api/v1/sessions/${s.id}/kill/`,
      `/API/v1/sessions/${s.id}/kill`,
      `/api/v1/sessions/${s.id}/Kill`,
      `/api/v1/sessions/${s.id}%2fkill`,
      `/api/v1/sessions%2f${s.id}/kill`,
      `/api/v1//sessions/${s.id}/kill`,
    ];
    for (const v of variants) {
      const res = await approver.api.call('POST', v, {});
      expect(res.status, v).toBe(404);
      expect(res.body.error.code, v).toBe('not_found');
    }
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.state).toBe('active');
    for (const v of ['/api/v1/admin/users/', '/api/v1/Admin/users', '/api/v1/admin%2fusers', '/api/v1/admin/users%2f']) {
      const res = await analyst.api.call('GET', v);
      expect(res.status, v).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain('root');
    }
    expect((await audited(b, 'http.not_found')).length).toBeGreaterThanOrEqual(10);
    // And the approver, who did not approve this one, cannot kill it the right way either.
    const k = await approver.api.post(`/api/v1/sessions/${s.id}/kill`, {});
    expect(k.status).toBe(403);
  });

  it('SQL and shell metacharacters are either refused by the schema or stored verbatim', async () => {
    const nasty = `'; DROP TABLE sessions; -- $(rm -rf /) \`id\` "quoted" \\ back`;
    const badTicket = await analyst.api.post('/api/v1/sessions', { ticket: nasty, reason: 'x', capabilities: ['view'], duration_minutes: 5 });
    expect(badTicket.status).toBe(400);
    expect(badTicket.body.error.code).toBe('invalid_body');
    const ok = await analyst.api.post('/api/v1/sessions', { ticket: 'INC-42', reason: nasty, capabilities: ['view'], duration_minutes: 5 });
    expect(ok.status).toBe(200);
    expect(ok.body.reason).toBe(nasty);
    const user = await admin.api.post('/api/v1/admin/users', { username: 'mallory', display_name: nasty, organisation: `Robert'); DROP TABLE accounts;--`, roles: ['analyst'] });
    expect(user.status).toBe(200);
    const list = await admin.api.get('/api/v1/admin/users');
    expect(list.body.users.find((u: { username: string }) => u.username === 'mallory').display_name).toBe(nasty);
    const login = await analyst.api.post('/api/v1/auth/login', { username: `admin' --`, password: `' OR '1'='1`, totp: '123456' });
    expect(login.status).toBe(401);
    const sqlCode = await new ApiClient(b.url).post('/api/v1/join', { code: `' OR 1=1 --` });
    expect(sqlCode.status).toBe(404);
    const tables = await b.ctx.storage.db.selectFrom('sessions').select('id').execute();
    expect(tables.length).toBeGreaterThan(0);
  });

  it('a control character in a text field is refused', async () => {
    const res = await analyst.api.post('/api/v1/sessions', { ticket: 'INC-1', reason: 'line1\nforged audit line', capabilities: ['view'], duration_minutes: 5 });
    expect(res.status).toBe(400);
  });

  it('a duration beyond policy is refused and changes nothing', async () => {
    const before = (await b.ctx.storage.db.selectFrom('sessions').select('id').execute()).length;
    const res = await analyst.api.post('/api/v1/sessions', { ticket: 'INC-1', reason: 'x', capabilities: ['view'], duration_minutes: 61 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('duration_exceeds_policy');
    expect((await b.ctx.storage.db.selectFrom('sessions').select('id').execute()).length).toBe(before);
  });
});
