import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, firstFrame, nodeEngine } from '../../kit/node-session.js';

describe('session engine: two Node peers through the real broker', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    admin = await createUser(b, 'root', ['admin']);
  });
  afterAll(async () => b?.destroy());

  it('connects, shows the same verification code on both sides, carries video and control, and tears down on the kill switch', async () => {
    const s = await activeSession(b, analyst);
    const screen = new SyntheticScreen();
    const exp = Date.now() + 30 * 60_000;
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [] });
    const controls: string[] = [];
    eu.on('control', (c) => controls.push(`${c.channel}:${c.data}`));
    const sasEu = eu.once('sas');
    const sasAn = an.once('sas');
    const stream = an.once('stream');
    eu.start();
    an.start();
    const [a, c] = await Promise.all([sasEu, sasAn]);
    expect(a).toMatch(/^\d{3} \d{3}$/);
    expect(a).toBe(c);
    const frame = await firstFrame(await stream);
    expect(frame).toEqual({ width: 320, height: 180 });
    expect(an.sendControl({ t: 'move', x: 0.5, y: 0.25 })).toBe(true);
    expect(an.sendControl({ t: 'text', text: 'hello' })).toBe(true);
    await expect.poll(() => controls.length).toBe(2);
    expect(controls.some((x) => x.startsWith('pointer:') && x.includes('"t":"move"'))).toBe(true);
    expect(controls.some((x) => x.startsWith('reliable:') && x.includes('"text":"hello"'))).toBe(true);

    const euEnded = eu.once('ended');
    const anEnded = an.once('ended');
    expect((await admin.api.post(`/api/v1/sessions/${s.id}/kill`, {})).status).toBe(200);
    expect(await euEnded).toEqual({ reason: 'revoked', revoked: ['capture'] });
    expect((await anEnded).reason).toBe('revoked');
    expect(screen.track.readyState).toBe('ended');
    screen.stop();
  });
});
