/**
 * The whole chain on one machine: a real broker, two Node clients over real WebRTC (the end user
 * shares a synthetic screen), the end user's input gate and XTEST injector, and a real Chromium
 * window on a private Xvfb display where the clicks and keys must land (or not).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createXTestInjector, type XTestInjector } from '../../main/injectors/xtest.js';
import type { SessionEngine } from '../../renderer/session/engine.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { missingTurnserver, startCoturn, type Coturn } from '../helpers/coturn.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { EndUserSide } from '../../kit/end-user-side.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, nodeEngine } from '../../kit/node-session.js';
import { CHROMIUM_PATH, missingDisplayTools, startXvfb, xdotool, type Xvfb } from '../../kit/xvfb.js';

const SUITE = 'an attended session end to end with input landing in a real window';
const skip = skipWithout(SUITE, [...missingDisplayTools({ chromium: true }), ...missingTurnserver()]);

const W = 1280;
const H = 720;
const PAGE = `<!doctype html><html><body style="margin:0;background:#fff">
<button id="b" style="position:absolute;left:100px;top:100px;width:200px;height:80px">Press</button>
<input id="i" style="position:absolute;left:100px;top:300px;width:400px;height:40px">
<script>
  window.clicks = 0; window.lastMove = null;
  document.getElementById('b').addEventListener('click', (e) => { if (e.isTrusted) clicks++; });
  addEventListener('mousemove', (e) => { lastMove = { x: e.screenX, y: e.screenY, cx: e.clientX, cy: e.clientY }; }, true);
</script></body></html>`;

describe.skipIf(skip)(SUITE, () => {
  let xvfb: Xvfb;
  let browser: Browser;
  let page: Page;
  let injector: XTestInjector;
  let origin: { x: number; y: number };
  let b: TestBroker;
  let turn: Coturn;
  let analyst: TestUser;
  let admin: TestUser;
  let approver: TestUser;
  let tmp: string;

  const state = () => page.evaluate(() => ({ clicks: (window as unknown as { clicks: number }).clicks, value: (document.getElementById('i') as HTMLInputElement).value }));
  const at = (cx: number, cy: number) => ({ x: (origin.x + cx) / W, y: (origin.y + cy) / H });

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-e2e-'));
    xvfb = await startXvfb({ width: W, height: H });
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: false,
      env: { ...process.env, DISPLAY: xvfb.display },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--window-position=0,0', `--window-size=${W},${H}`],
    });
    page = await (await browser.newContext({ viewport: null })).newPage();
    await page.setContent(PAGE);
    injector = await createXTestInjector({ display: xvfb.display });
    await xdotool(xvfb.display, ['mousemove', '640', '400']);
    let m: { x: number; y: number; cx: number; cy: number } | null = null;
    for (let i = 0; i < 200 && !m; i++) {
      m = await page.evaluate(() => (window as unknown as { lastMove: { x: number; y: number; cx: number; cy: number } | null }).lastMove);
      if (!m) await new Promise((r) => setTimeout(r, 50));
    }
    if (!m) throw new Error('the page never saw the calibration move');
    origin = { x: m.x - m.cx, y: m.y - m.cy };
    turn = await startCoturn();
    b = await startTestBroker('sqlite', { file: { turn: { urls: [turn.url], secret: turn.secret, ttl_seconds: 600 } } });
    analyst = await createUser(b, 'alice', ['analyst']);
    approver = await createUser(b, 'bob', ['approver']);
    admin = await createUser(b, 'root', ['admin']);
  }, 90_000);

  afterAll(async () => {
    await injector?.close();
    await browser?.close();
    await xvfb?.stop();
    await b?.destroy();
    await turn?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function connected(relay: boolean): Promise<{ sid: string; eu: EndUserSide; an: SessionEngine; screen: SyntheticScreen }> {
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const screen = new SyntheticScreen();
    const exp = Date.now() + 30 * 60_000;
    const eu = new EndUserSide(s.id, { device: s.endUser.device, brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: s.endUserIce, iceTransportPolicy: relay ? 'relay' : 'all', screen, injector, dir: tmp });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: s.analystIce, iceTransportPolicy: relay ? 'relay' : 'all', loopback: !relay });
    const up = Promise.all([eu.engine.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    const [x, y] = await up;
    expect(x).toBe(y);
    return { sid: s.id, eu, an, screen };
  }

  async function clickButton(an: SessionEngine): Promise<void> {
    const p = at(200, 140);
    an.sendControl({ t: 'move', ...p });
    an.sendControl({ t: 'down', button: 'left', ...p });
    an.sendControl({ t: 'up', button: 'left', ...p });
  }

  for (const relay of [false, true]) {
    it(`${relay ? 'through the coturn relay' : 'directly'}: control only when granted, lands in the window, and Stop revokes everything`, async () => {
      const { sid, eu, an, screen } = await connected(relay);
      const before = await state();
      // Before any grant: nothing lands, everything is counted.
      await clickButton(an);
      // The move may arrive after the click it preceded (another channel): then it is stale, also refused.
      const refused = () => eu.gate.counters.refused_no_grant + eu.gate.counters.dropped_stale;
      await expect.poll(refused, { timeout: 5000 }).toBe(3);
      // The analyst asks, the end user allows.
      eu.answer = (c) => c === 'control';
      const granted = an.once('grant');
      an.requestGrant('control', `req-${relay}`);
      expect(await granted).toMatchObject({ capability: 'control', granted: true, by: 'end_user' });
      // The end user's side switches control on when the broker's grant.changed reaches it too.
      await expect.poll(() => eu.registry.isActive('control', sid)).toBe(true);
      await clickButton(an);
      await expect.poll(async () => (await state()).clicks, { timeout: 5000 }).toBe(before.clicks + 1);
      const p = at(300, 320);
      an.sendControl({ t: 'move', ...p });
      an.sendControl({ t: 'down', button: 'left', ...p });
      an.sendControl({ t: 'up', button: 'left', ...p });
      an.sendControl({ t: 'text', text: relay ? 'via relay' : 'direct' });
      await expect.poll(async () => (await state()).value, { timeout: 5000 }).toContain(relay ? 'via relay' : 'direct');
      // The end user takes control back: further clicks land nowhere.
      const revoked = an.once('grant');
      await eu.takeControlBack();
      expect(await revoked).toMatchObject({ capability: 'control', granted: false });
      const refusedBefore = refused();
      const clicksBefore = (await state()).clicks;
      await clickButton(an);
      await expect.poll(refused, { timeout: 5000 }).toBe(refusedBefore + 3);
      expect((await state()).clicks).toBe(clicksBefore);
      // Stop: every local grant revoked, tracks ended, both peer connections closed, broker ended it.
      const anEnded = an.once('ended');
      const r = await eu.engine.stop();
      expect(r.reason).toBe('user_stopped');
      expect(r.revoked).toContain('capture');
      expect((await anEnded).reason).toBe('user_stopped');
      expect(eu.registry.grants()).toEqual([]);
      expect(screen.track.readyState).toBe('ended');
      await clickButton(an);
      expect(eu.gate.counters.injected).toBeGreaterThan(0);
      await b.ctx.audit.flush();
      const events = await b.ctx.storage.db.selectFrom('audit_events').select(['type', 'meta']).where('session_id', '=', sid).orderBy('seq').execute();
      const types = events.map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['grant.granted', 'grant.revoked', 'client.teardown_report', 'session.ended']));
      expect(JSON.parse(events.find((e) => e.type === 'client.teardown_report')!.meta).revoked).toContain('capture');
      expect(JSON.parse(events.find((e) => e.type === 'session.ended')!.meta)).toMatchObject({ reason: 'user_stopped' });
      screen.stop();
    }, 60_000);
  }

  it('the kill switch: the end user side tears down and nothing more is injected', async () => {
    const { sid, eu, an, screen } = await connected(false);
    eu.answer = () => true;
    const granted = an.once('grant');
    an.requestGrant('control', 'k1');
    await granted;
    await expect.poll(() => eu.registry.isActive('control', sid)).toBe(true);
    const ended = eu.engine.once('ended');
    expect((await admin.api.post(`/api/v1/sessions/${sid}/kill`, {})).status).toBe(200);
    const r = await ended;
    expect(r.reason).toBe('revoked');
    expect(r.revoked).toEqual(expect.arrayContaining(['capture', 'control']));
    expect(eu.registry.isActive('control', sid)).toBe(false);
    const injected = eu.gate.counters.injected;
    // Even a message that reaches the gate after the end is refused.
    expect(eu.gate.handle(sid, JSON.stringify({ t: 'move', seq: 1, x: 0.5, y: 0.5 }), 'pointer')).not.toBe('injected');
    expect(eu.gate.counters.injected).toBe(injected);
    expect(screen.track.readyState).toBe('ended');
    screen.stop();
  });
});
