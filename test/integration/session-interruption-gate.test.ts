/**
 * While the peer is reconnecting, control is locked in main's input gate itself, not only on the
 * screen: the end user's engine tells main (`session.interrupted` / `session.resumed` over the
 * bridge, wired as the app wires it), and input the other side still pushes through the data
 * channel lands nowhere. An analyst of another stack does not stop sending because our analyst's
 * screen would have.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createXTestInjector } from '../../main/injectors/xtest.js';
import { MainServices } from '../../main/services.js';
import { linkEngineToMain } from '../../renderer/app/flows/main-link.js';
import { createUser, startTestBroker, tempDir, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';
import { bridgeTo } from '../../kit/main-bridge.js';
import { SyntheticScreen, nodeEngine } from '../../kit/node-session.js';
import { missingDisplayTools, startXvfb, type Xvfb } from '../../kit/xvfb.js';
import { skipWithout } from '../helpers/needs-tools.js';

const SUITE = "the input gate during an interruption";
const skip = skipWithout(SUITE, missingDisplayTools());

describe.skipIf(skip)(SUITE, () => {
  let xvfb: Xvfb;
  let b: TestBroker;
  let analyst: TestUser;
  let dir: string;
  beforeAll(async () => {
    xvfb = await startXvfb({ width: 640, height: 480 });
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    dir = tempDir('chaperone-interrupt-');
  });
  afterAll(async () => {
    await b?.destroy();
    await xvfb?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses input that still arrives while signaling is lost, and takes it again once the session is back', async () => {
    const s = await activeSession(b, analyst, { caps: ['view', 'chat', 'control'], approver: await createUser(b, 'bob', ['approver']) });
    const services = await MainServices.start({ brokerUrl: b.url, dataDir: path.join(dir, 'eu'), createInjector: () => createXTestInjector({ display: xvfb.display }) });
    const bridge = bridgeTo(services);
    const exp = Date.now() + 30 * 60_000;
    await bridge.session.open({ sessionId: s.id, expiresAt: exp });
    expect(await bridge.grants.acquire({ sessionId: s.id, kind: 'control' })).toMatchObject({ ok: true });
    const screen = new SyntheticScreen();
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream, graceMs: 30_000 });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [], graceMs: 30_000 });
    linkEngineToMain(eu, bridge, s.id);
    const up = Promise.all([eu.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    await up;
    const counters = services.gate.counters;
    expect(an.sendControl({ t: 'move', x: 0.5, y: 0.5 })).toBe(true);
    await expect.poll(() => counters.injected).toBe(1);

    // The broker goes away: both sides are interrupted; the peer connection itself is fine.
    const port = Number(new URL(b.url).port);
    await b.close();
    await expect.poll(() => eu.state).toBe('interrupted');
    await expect.poll(() => services.gate.isInterrupted(s.id)).toBe(true);
    // What another analyst would still push through the open data channel.
    const raw = an as unknown as { peer: { send(t: string): void }; pointer: { send(t: string): void }; seq: number };
    // Numbered by the analyst's own counter, the move after the text: however the two channels
    // deliver, neither is stale (docs/session-protocol.md, seq).
    raw.peer.send(JSON.stringify({ t: 'text', seq: raw.seq++, text: 'typed while locked' }));
    raw.pointer.send(JSON.stringify({ t: 'move', seq: raw.seq++, x: 0.1, y: 0.1 }));
    await expect.poll(() => counters.refused_interrupted).toBe(2);
    expect(counters.injected).toBe(1);

    // Back within the grace period: unlocked without any new consent.
    b = await b.restart({ port });
    await expect.poll(() => services.gate.isInterrupted(s.id), { timeout: 10_000 }).toBe(false);
    await expect.poll(() => an.state, { timeout: 10_000 }).toBe('connected');
    expect(an.sendControl({ t: 'move', x: 0.25, y: 0.25 })).toBe(true);
    await expect.poll(() => counters.injected).toBe(2);
    await an.stop();
    await eu.tearDown('completed');
    screen.stop();
    await services.close();
  });
});
