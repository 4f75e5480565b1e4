import { compactVerify, importJWK, decodeProtectedHeader, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { MainServices } from '../../main/services.js';
import { createUser, startTestBroker, tempDir, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, type ActiveSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, nodeEngine, wsFactory } from '../../kit/node-session.js';
import type { SessionEngine } from '../../renderer/session/engine.js';
import { tamperingSocket, type Tampering } from '../helpers/tampering-socket.js';

/**
 * The end user's teardown report reaches the audit on every way a session ends (WIRE-10 item 3):
 * signed by the device key (`chaperone-teardown+jwt`), sent on signaling right after the end
 * (the broker keeps the end user's socket open for it), and over HTTP when signaling is gone.
 */
describe('the teardown report arrives on every end path', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let admin: TestUser;
  const stop: (() => void)[] = [];
  afterEach(async () => {
    for (const f of stop.splice(0)) f();
    await b?.destroy();
  });

  async function pair(graceMs = 10_000): Promise<{ s: ActiveSession; eu: SessionEngine; an: SessionEngine; net: Tampering }> {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    admin = await createUser(b, 'root', ['admin']);
    const s = await activeSession(b, analyst);
    const screen = new SyntheticScreen();
    stop.push(() => screen.stop());
    const exp = Date.now() + 30 * 60_000;
    const net = tamperingSocket(wsFactory, {});
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream, graceMs, socket: net.factory, sessionId: s.id, onTeardown: () => ['control'] });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [], graceMs });
    const up = Promise.all([eu.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    await up;
    return { s, eu, an, net };
  }

  /** The session's reports in the audit, each with its receipt checked against the end user's key. */
  async function reports(s: ActiveSession): Promise<{ revoked: string[]; after_crash?: boolean; claims: Record<string, unknown> }[]> {
    await b.ctx.audit.flush();
    const rows = await b.ctx.storage.db.selectFrom('audit_events').select(['meta']).where('session_id', '=', s.id).where('type', '=', 'client.teardown_report').orderBy('seq').execute();
    const out = [];
    for (const r of rows) {
      const meta = JSON.parse(r.meta) as { revoked: string[]; after_crash?: boolean; receipt: string };
      const header = decodeProtectedHeader(meta.receipt);
      expect(header).toMatchObject({ alg: 'EdDSA', typ: 'chaperone-teardown+jwt', jwk: s.endUser.device.publicJwk });
      const { payload } = await compactVerify(meta.receipt, await importJWK(s.endUser.device.publicJwk as JWK, 'EdDSA'));
      out.push({ revoked: meta.revoked, after_crash: meta.after_crash, claims: JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown> });
    }
    return out;
  }

  const signed = (s: ActiveSession) => ({ sid: s.id, revoked: ['capture', 'control'], after_crash: false, iat: expect.any(Number), jti: expect.any(String) });

  it('the analyst ends it', async () => {
    const p = await pair();
    const ended = p.eu.once('ended');
    await p.an.stop();
    expect((await ended).reason).toBe('completed');
    await expect.poll(() => reports(p.s), { timeout: 5000 }).toHaveLength(1);
    expect((await reports(p.s))[0]).toEqual({ revoked: ['capture', 'control'], after_crash: false, claims: signed(p.s) });
  });

  it('the kill switch', async () => {
    const p = await pair();
    const ended = p.eu.once('ended');
    expect((await admin.api.post(`/api/v1/sessions/${p.s.id}/kill`, {})).status).toBe(200);
    expect((await ended).reason).toBe('revoked');
    await expect.poll(() => reports(p.s), { timeout: 5000 }).toHaveLength(1);
    expect((await reports(p.s))[0]!.claims).toEqual(signed(p.s));
  });

  it('the end user stops it', async () => {
    const p = await pair();
    await p.eu.stop();
    await expect.poll(() => reports(p.s), { timeout: 5000 }).toHaveLength(1);
    expect((await reports(p.s))[0]!.claims).toEqual(signed(p.s));
  });

  it('the peer is lost', async () => {
    const p = await pair(800);
    const ended = p.eu.once('ended');
    (p.an as unknown as { peer: { destroy(): void } }).peer.destroy();
    expect((await ended).reason).toBe('peer_lost');
    await expect.poll(() => reports(p.s), { timeout: 5000 }).toHaveLength(1);
    expect((await reports(p.s))[0]!.claims).toEqual(signed(p.s));
  });

  it("the end user's page goes away (closed, reloaded): main ends the session here and reports over HTTP itself", async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst);
    // This machine's main holds the device key that redeemed the code.
    const dir = tempDir('chaperone-report-');
    stop.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const { kty, crv, x, d } = s.endUser.device.privateJwk();
    fs.writeFileSync(path.join(dir, 'device-key.json'), JSON.stringify({ kty, crv, x, d }), { mode: 0o600 });
    const services = await MainServices.start({ brokerUrl: b.url, dataDir: dir });
    const page = services.handlersFor('the end user page');
    await page['session.open']({ sessionId: s.id, expiresAt: Date.now() + 600_000 });
    expect(await page['grants.acquire']({ sessionId: s.id, kind: 'capture' })).toMatchObject({ ok: true });
    // Main signs a report only for a session that has ended here.
    await expect(async () => page['session.teardownReceipt']({ sessionId: s.id, revoked: ['capture'] })).rejects.toThrow(/no such ended session/);
    await services.pageGone('the end user page');
    expect(services.registry.grants()).toEqual([]);
    await expect.poll(() => reports(s), { timeout: 5000 }).toHaveLength(1);
    expect((await reports(s))[0]).toEqual({ revoked: ['capture'], after_crash: false, claims: { sid: s.id, revoked: ['capture'], after_crash: false, iat: expect.any(Number), jti: expect.any(String) } });
    // And once: nothing more is signed for it.
    await expect(async () => page['session.teardownReceipt']({ sessionId: s.id, revoked: [] })).rejects.toThrow(/already signed/);
    await services.close();
  });

  it('ended while signaling was gone: the report goes over HTTP', async () => {
    const p = await pair();
    const ended = p.eu.once('ended');
    p.net.block();
    expect((await admin.api.post(`/api/v1/sessions/${p.s.id}/kill`, {})).status).toBe(200);
    // Back online: the broker refuses the revoked token, the client ends and reports by HTTP.
    p.net.unblock();
    expect((await ended).reason).toBe('peer_lost');
    await expect.poll(() => reports(p.s), { timeout: 5000 }).toHaveLength(1);
    expect((await reports(p.s))[0]).toEqual({ revoked: ['capture', 'control'], after_crash: false, claims: signed(p.s) });
  });
});
