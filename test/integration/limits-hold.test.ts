import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { signWebhook } from '../../broker/hooks/signature.js';
import { ApiClient } from '../../kit/api.js';
import { ENGINES, createUser, freshTotp, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession, connectBoth, requestSession } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';
import { TestClock } from '../helpers/clock.js';

/**
 * Every counter and replay cache the broker keeps holds when the requests come all at once, and
 * holds across a broker restart: counted atomically before the thing they limit is evaluated, and
 * kept in the database (behind broker/storage/limits.ts, so that a cluster shares them).
 */

const statuses = (rs: { status: number }[]) => rs.map((r) => r.status);
const count = (xs: number[], n: number) => xs.filter((x) => x === n).length;

describe.each(ENGINES)('counters and replay caches hold under parallel requests and across a restart (%s)', (engine) => {
  let b: TestBroker | null = null;
  afterEach(async () => {
    await b?.destroy();
    b = null;
  });

  const login = (u: TestUser, over: { password?: string; totp?: string } = {}) =>
    new ApiClient(b!.url, new DeviceKey()).post('/api/v1/auth/login', { username: u.username, password: over.password ?? u.password, totp: over.totp ?? freshTotp(u.totpSecret) });

  it('sign-in failures: 30 wrong passwords at once evaluate at most 5, and lock the account', async () => {
    b = await startTestBroker(engine);
    const alice = await createUser(b, 'alice', ['analyst']);
    const wrong = await Promise.all(Array.from({ length: 30 }, () => login(alice, { password: 'not her password', totp: '000000' })));
    const s = statuses(wrong);
    expect(count(s, 401)).toBeLessThanOrEqual(5);
    expect(count(s, 429)).toBeGreaterThanOrEqual(25);
    const right = await login(alice);
    expect(right.status).toBe(429);
    expect(right.body.error.code).toBe('account_locked');
  });

  it('sign-in failures: wrong one-time codes at once count the same way', async () => {
    b = await startTestBroker(engine);
    const alice = await createUser(b, 'alice', ['analyst']);
    const wrong = await Promise.all(Array.from({ length: 30 }, (_, i) => login(alice, { totp: String(100000 + i) })));
    expect(count(statuses(wrong), 401)).toBeLessThanOrEqual(5);
    expect((await login(alice)).status).toBe(429);
  });

  it('sign-in failures survive a restart', async () => {
    b = await startTestBroker(engine);
    const alice = await createUser(b, 'alice', ['analyst']);
    for (let i = 0; i < 3; i++) expect((await login(alice, { password: 'wrong' })).status).toBe(401);
    b = await b.restart();
    for (let i = 0; i < 2; i++) expect((await login(alice, { password: 'wrong' })).status).toBe(401);
    expect((await login(alice)).status).toBe(429);
  });

  it('a TOTP code sent by several sign-ins at once signs in once', async () => {
    const clock = new TestClock();
    b = await startTestBroker(engine, { clock });
    const alice = await createUser(b, 'alice', ['analyst']);
    // Past the steps createUser used, so the code below is the current one.
    await clock.advance(90_000);
    const code = freshTotp(alice.totpSecret);
    const tries = await Promise.all(Array.from({ length: 4 }, () => login(alice, { totp: code })));
    expect(count(statuses(tries), 200)).toBe(1);
    clock.dispose();
  });

  it('a used TOTP code is refused after a restart', async () => {
    b = await startTestBroker(engine);
    const alice = await createUser(b, 'alice', ['analyst']);
    b = await b.restart();
    expect((await login(alice, { totp: alice.lastTotp! })).status).toBe(401);
  });

  it('a DPoP proof sent several times at once is accepted once, and refused after a restart', async () => {
    b = await startTestBroker(engine);
    const alice = await createUser(b, 'alice', ['analyst']);
    const url = `${b.url}/api/v1/me`;
    const proof = await alice.api.device.httpProof('GET', url, alice.api.accessToken!);
    const headers = { authorization: `DPoP ${alice.api.accessToken}`, dpop: proof };
    const at = await Promise.all(Array.from({ length: 10 }, () => fetch(url, { headers })));
    expect(count(statuses(at), 200)).toBe(1);
    const once = await alice.api.device.httpProof('GET', url, alice.api.accessToken!);
    expect((await fetch(url, { headers: { ...headers, dpop: once } })).status).toBe(200);
    b = await b.restart();
    // The same proof to the restarted broker (its htu is compared by path, so another port does not matter).
    const replay = await fetch(`${b.url}/api/v1/me`, { headers: { ...headers, dpop: once } });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('proof_replayed');
  });

  it('wrong join codes from one source: 30 at once evaluate at most 10', async () => {
    b = await startTestBroker(engine, { file: { rate_limits: { join_failures_per_source: 10 } as never } });
    const guess = () => new ApiClient(b!.url, new DeviceKey()).post('/api/v1/join', { code: 'ZZZZZ-ZZZZZ' });
    const at = await Promise.all(Array.from({ length: 30 }, guess));
    expect(count(statuses(at), 404)).toBeLessThanOrEqual(10);
    expect(count(statuses(at), 429)).toBeGreaterThanOrEqual(20);
  });

  it('wrong join codes from one source survive a restart', async () => {
    b = await startTestBroker(engine, { file: { rate_limits: { join_failures_per_source: 10 } as never } });
    const guess = () => new ApiClient(b!.url, new DeviceKey()).post('/api/v1/join', { code: 'ZZZZZ-ZZZZZ' });
    for (let i = 0; i < 6; i++) expect((await guess()).status).toBe(404);
    b = await b.restart();
    const after = [];
    for (let i = 0; i < 6; i++) after.push((await guess()).status);
    expect(after).toEqual([404, 404, 404, 404, 429, 429]);
  });

  it('wrong join codes across all sources: the global limit holds at once and across a restart', async () => {
    b = await startTestBroker(engine, { file: { rate_limits: { join_failures_per_source: 1000, join_failures_global: 12 } as never } });
    const guess = () => new ApiClient(b!.url, new DeviceKey()).post('/api/v1/join', { code: 'ZZZZZ-ZZZZZ' });
    const at = await Promise.all(Array.from({ length: 20 }, guess));
    expect(count(statuses(at), 404)).toBeLessThanOrEqual(12);
    b = await b.restart();
    expect((await guess()).status).toBe(429);
  });

  it('a refresh token presented several times at once works once, and the others revoke its sign-in', async () => {
    b = await startTestBroker(engine);
    const alice = await createUser(b, 'alice', ['analyst']);
    const token = alice.api.refreshToken!;
    // Two at once: both read the token unused before either marks it, the case a read-then-write misses.
    const at = await Promise.all(Array.from({ length: 2 }, () => alice.api.post('/api/v1/auth/refresh', { refresh_token: token })));
    expect(count(statuses(at), 200)).toBe(1);
    const winner = at.find((r) => r.status === 200)!;
    // Whoever won, the copy that lost says the token was copied: the whole sign-in goes.
    expect((await alice.api.post('/api/v1/auth/refresh', { refresh_token: winner.body.refresh_token })).status).toBe(401);
    expect((await alice.api.call('GET', '/api/v1/me', undefined, { token: winner.body.access_token })).status).toBe(401);
  });

  it('a used refresh token presented after a restart revokes its sign-in', async () => {
    b = await startTestBroker(engine);
    const alice = await createUser(b, 'alice', ['analyst']);
    const first = alice.api.refreshToken!;
    const r1 = await alice.api.post('/api/v1/auth/refresh', { refresh_token: first });
    expect(r1.status).toBe(200);
    b = await b.restart();
    alice.api = Object.assign(alice.api, { baseUrl: b.url });
    expect((await alice.api.post('/api/v1/auth/refresh', { refresh_token: first })).status).toBe(401);
    expect((await alice.api.post('/api/v1/auth/refresh', { refresh_token: r1.body.refresh_token })).status).toBe(401);
  });

  it('a signed ticket delivery is processed once, sent at once or after a restart', async () => {
    b = await startTestBroker(engine);
    const raw = JSON.stringify({ event_id: crypto.randomUUID(), ticket: 'INC-RACE', status: 'approved' });
    const ts = Math.floor(Date.now() / 1000);
    const send = () =>
      new ApiClient(b!.url).call('POST', '/api/v1/webhooks/tickets', undefined, { proof: false, rawBody: raw, headers: { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': signWebhook(b!.ctx.cfg.ticketWebhookSecret, ts, raw) } });
    const at = await Promise.all(Array.from({ length: 6 }, send));
    expect(count(statuses(at), 200)).toBe(1);
    b = await b.restart();
    expect((await send()).status).toBe(401);
  });

  it('live join codes: the cap holds when codes are issued at once', async () => {
    b = await startTestBroker(engine, { file: { rate_limits: { max_live_codes: 3 } as never } });
    const alice = await createUser(b, 'alice', ['analyst']);
    const sessions = await Promise.all(Array.from({ length: 8 }, () => requestSession(alice)));
    const codes = await Promise.all(sessions.map((s) => alice.api.post(`/api/v1/sessions/${s.id}/code`, {})));
    expect(count(statuses(codes), 200)).toBe(3);
    expect(count(statuses(codes), 503)).toBe(5);
  });

  it('the signaling frame limit is not refilled by reconnecting', async () => {
    b = await startTestBroker(engine);
    const alice = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, alice);
    const { eu, an } = await connectBoth(b, alice, s);
    an.sendBurst(Array.from({ length: 200 }, () => ({ type: 'heartbeat' })));
    await new Promise((r) => setTimeout(r, 200));
    an.close();
    await an.closed();
    const again = await SignalingClient.connect(b.url, s.analystToken, alice.api.device);
    again.sendBurst(Array.from({ length: 100 }, () => ({ type: 'heartbeat' })));
    await new Promise((r) => setTimeout(r, 300));
    // The burst was spent on the first socket; the second gets what refilled since (100/s).
    expect(again.frames.filter((f) => f.type === 'error' && (f as { code: string }).code === 'rate_limited').length).toBeGreaterThan(40);
    again.close();
    eu.close();
  });
});
