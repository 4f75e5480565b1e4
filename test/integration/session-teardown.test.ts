import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEngine } from '../../renderer/session/engine.js';
import type { EngineClock } from '../../renderer/session/ports.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, type ActiveSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, nodeEngine } from '../../kit/node-session.js';

interface Pair {
  s: ActiveSession;
  eu: SessionEngine;
  an: SessionEngine;
  screen: SyntheticScreen;
  revokedLocally: string[][];
}

async function auditFor(b: TestBroker, sessionId: string) {
  await b.ctx.audit.flush();
  return b.ctx.storage.db.selectFrom('audit_events').select(['type', 'meta']).where('session_id', '=', sessionId).orderBy('seq').execute();
}

describe('every end path tears down completely', () => {
  let b: TestBroker;
  let analyst: TestUser;
  const cleanup: (() => void)[] = [];

  afterEach(async () => {
    for (const c of cleanup.splice(0)) c();
    await b?.destroy().catch(() => undefined);
  });

  async function connectedPair(opts: { graceMs?: number; euClock?: EngineClock; duration?: number } = {}): Promise<Pair> {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst, { duration: opts.duration });
    const screen = new SyntheticScreen();
    cleanup.push(() => screen.stop());
    const revokedLocally: string[][] = [];
    const exp = Date.now() + 30 * 60_000;
    const eu = nodeEngine(s.endUser.device, {
      role: 'end_user',
      sessionId: s.id,
      brokerUrl: b.url,
      token: s.endUserToken,
      expiresAt: exp,
      iceServers: [],
      stream: screen.stream,
      graceMs: opts.graceMs,
      onTeardown: () => {
        // What main/ would revoke: this test granted control locally.
        revokedLocally.push(['control']);
        return ['control'];
      },
    });
    if (opts.euClock) Object.assign((eu as unknown as { deps: { clock: EngineClock } }).deps, { clock: opts.euClock });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [], graceMs: opts.graceMs });
    const up = Promise.all([eu.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    await up;
    return { s, eu, an, screen, revokedLocally };
  }

  function peerClosed(e: SessionEngine): boolean {
    return (e as unknown as { peer: unknown }).peer === null;
  }

  it('the user presses Stop', async () => {
    const p = await connectedPair();
    const anEnded = p.an.once('ended');
    const r = await p.eu.stop();
    expect(r).toEqual({ reason: 'user_stopped', revoked: ['control', 'capture'] });
    expect((await anEnded).reason).toBe('user_stopped');
    expect(p.screen.track.readyState).toBe('ended');
    expect(peerClosed(p.eu) && peerClosed(p.an)).toBe(true);
    await expect.poll(async () => (await analyst.api.get(`/api/v1/sessions/${p.s.id}`)).body.end_reason).toBe('user_stopped');
    const audit = await auditFor(b, p.s.id);
    const report = audit.find((e) => e.type === 'client.teardown_report');
    expect(JSON.parse(report!.meta)).toMatchObject({ revoked: ['capture', 'control'], after_crash: false, receipt: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
    expect(audit.findIndex((e) => e.type === 'client.teardown_report')).toBeLessThan(audit.findIndex((e) => e.type === 'session.ended'));
    // Teardown is idempotent: a second Stop changes nothing and revokes nothing twice.
    expect(await p.eu.stop()).toEqual(r);
    expect(p.revokedLocally).toHaveLength(1);
  });

  it('the analyst ends it', async () => {
    const p = await connectedPair();
    const euEnded = p.eu.once('ended');
    await p.an.stop();
    expect((await euEnded).reason).toBe('completed');
    expect(p.screen.track.readyState).toBe('ended');
  });

  it('the peer connection is lost past the grace period: peer_lost on the end user side', async () => {
    const p = await connectedPair({ graceMs: 800 });
    const locked: boolean[] = [];
    p.eu.on('controlLocked', (v) => locked.push(v));
    const euEnded = p.eu.once('ended');
    // The analyst's machine vanishes: its peer connection is gone without a word on signaling.
    (p.an as unknown as { peer: { destroy(): void } }).peer.destroy();
    const ended = await euEnded;
    expect(ended.reason).toBe('peer_lost');
    expect(locked[0]).toBe(true);
    expect(p.screen.track.readyState).toBe('ended');
  });

  it('the broker becomes unreachable: signaling lost past the grace period ends the session locally', async () => {
    const p = await connectedPair({ graceMs: 800 });
    const euEnded = p.eu.once('ended');
    const anEnded = p.an.once('ended');
    await b.close();
    expect((await euEnded).reason).toBe('peer_lost');
    expect((await anEnded).reason).toBe('peer_lost');
    expect(p.screen.track.readyState).toBe('ended');
  });

  it('local expiry ends the session at the token expiry even when the broker cannot be reached (fail closed)', async () => {
    // The end user's clock runs so that the broker-given expiry is 1.5 s away.
    let offset = 0;
    const clock: EngineClock = { now: () => Date.now() + offset, setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    const p = await connectedPair({ euClock: clock, graceMs: 60_000 });
    const row = await b.ctx.storage.db.selectFrom('sessions').select('expires_at').where('id', '=', p.s.id).executeTakeFirstOrThrow();
    offset = row.expires_at! - Date.now() - 1500;
    // Re-arm from the broker's expiry, as a reconnect would; then cut the broker off.
    (p.eu as unknown as { armExpiry(): void }).armExpiry();
    await b.close();
    const ended = await p.eu.once('ended');
    const late = clock.now() - row.expires_at!;
    expect(ended.reason).toBe('expired');
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(1000);
    expect(p.screen.track.readyState).toBe('ended');
  });
});

describe('brief interruptions do not end the session', () => {
  it('a broker restart within the grace period: signaling reconnects with the same token and the peer connection never dropped', async () => {
    let b = await startTestBroker('sqlite');
    const analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst);
    const screen = new SyntheticScreen();
    const exp = Date.now() + 30 * 60_000;
    const port = Number(new URL(b.url).port);
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream, graceMs: 5000 });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [], graceMs: 5000 });
    const locks: boolean[] = [];
    eu.on('controlLocked', (v) => locks.push(v));
    const got: string[] = [];
    eu.on('control', (c) => got.push(c.data));
    const up = Promise.all([eu.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    await up;
    b = await b.restart({ port });
    // Both links come back; control was locked meanwhile and unlocks without any new consent.
    await expect.poll(() => locks.join(','), { timeout: 5000 }).toBe('true,false');
    expect(eu.state).toBe('connected');
    // The analyst's link reconnects on its own backoff; it comes back without any new consent too.
    await expect.poll(() => an.state, { timeout: 5000 }).toBe('connected');
    expect(an.sendControl({ t: 'text', text: 'still here' })).toBe(true);
    await expect.poll(() => got.length).toBe(1);
    const ended = eu.once('ended');
    await an.stop();
    expect((await ended).reason).toBe('completed');
    screen.stop();
    await b.destroy();
  });
});
