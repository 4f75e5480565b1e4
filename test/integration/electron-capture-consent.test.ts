import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MainServices } from '../../main/services.js';
import { APP_PAGE } from '../../main/electron/app-origin.js';
import { displayMediaRequestHandler, type ScreenSource } from '../../main/electron/display-media.js';
import { ElectronDisplays } from '../../main/electron/displays-electron.js';
import { dispatchBridgeCall } from '../../common/bridge/api.js';
import { decidePermission } from '../../main/electron/permissions.js';
import { isTrustedFrame } from '../../main/electron/sender-check.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { TestClock } from '../helpers/clock.js';
import { fakeFrame } from '../fakes/electron-fakes.js';

/**
 * The shell's screen-capture handlers asked the real main-process services, with a real broker's
 * signed offer: capture opens only once the end user accepted an offer that covers viewing the
 * screen, and closes again when the session ends or the consent lapses unused.
 */
describe('screen capture follows the end user’s consent (real broker, real services)', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let dir: string;
  let services: MainServices;
  const clock = new TestClock();
  const top = fakeFrame(APP_PAGE, { processId: 3, routingId: 1 });
  const screens: ScreenSource[] = [{ id: 'screen:0:0', name: 'Entire screen', display_id: '0' }];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-consent-'));
    // One clock for broker and client: the test jumps time for both.
    b = await startTestBroker('sqlite', { clock });
    analyst = await createUser(b, 'alice', ['analyst']);
    services = await MainServices.start({ brokerUrl: b.url, dataDir: dir, clock });
  });
  afterAll(async () => {
    await services?.close();
    await b?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const capture = () =>
    new Promise<unknown>((resolve) =>
      displayMediaRequestHandler({ isTrustedFrame: (f) => isTrustedFrame(f, top), isCaptureConsented: () => services.isCaptureConsented(), screens: async () => screens, chosen: () => services.chosenDisplayId(), onRefused: () => undefined })(
        { frame: top, securityOrigin: 'chaperone-app://ui', videoRequested: true, audioRequested: false, userGesture: true },
        resolve,
      ),
    );
  const permission = () => decidePermission('display-capture', { requestingUrl: APP_PAGE, isMainFrame: true }, { isCaptureConsented: () => services.isCaptureConsented(), onRefused: () => undefined });

  async function offerForThisDevice(): Promise<string> {
    const req = await analyst.api.post('/api/v1/sessions', { ticket: `INC-${Date.now()}`, reason: 'printer', capabilities: ['view', 'chat'], duration_minutes: 10 });
    const code = (await analyst.api.post(`/api/v1/sessions/${req.body.id}/code`, {})).body.code_display as string;
    const url = `${b.url}/api/v1/join`;
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', dpop: await services.handlers['device.dpopProof']({ htm: 'POST', htu: url }) }, body: JSON.stringify({ code }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { offer: string }).offer;
  }

  it('no capture on the consent screen, nor after Decline; capture after Accept; none after the session ends', async () => {
    const offer = await offerForThisDevice();
    await services.handlers['offer.verify']({ offer });
    expect(await capture()).toBeNull();
    expect(permission()).toBe(false);

    await services.handlers['consent.receipt']({ offer, decision: 'decline' });
    expect(await capture()).toBeNull();

    const { sid } = await services.handlers['consent.receipt']({ offer, decision: 'accept' });
    expect(await capture()).toEqual({ video: screens[0] });
    expect(permission()).toBe(true);

    // The session runs with the capture grant: switching screens within it still works.
    await services.handlers['session.open']({ sessionId: sid, expiresAt: clock.now() + 600_000 });
    expect(await services.handlers['grants.acquire']({ sessionId: sid, kind: 'capture' })).toMatchObject({ ok: true });
    await clock.advance(120_000);
    expect(await capture()).toEqual({ video: screens[0] });

    // Stop.
    await services.handlers['grants.revokeAll']({ sessionId: sid });
    expect(await capture()).toBeNull();
    expect(permission()).toBe(false);
  });

  it('two screens: nothing without a choice, the chosen one after it, and an id main never listed is refused', async () => {
    const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-displays-'));
    const two: ScreenSource[] = [
      { id: 'screen:21:0', name: 'Screen 1', display_id: '21' },
      { id: 'screen:22:0', name: 'Screen 2', display_id: '22' },
    ];
    const screen = {
      getAllDisplays: () => [
        { id: 22, bounds: { x: 1280, y: 0, width: 1280, height: 720 }, scaleFactor: 1 },
        { id: 21, bounds: { x: 0, y: 0, width: 1280, height: 720 }, scaleFactor: 1 },
      ],
    };
    const svc = await MainServices.start({ brokerUrl: b.url, dataDir: dir2, clock, displays: new ElectronDisplays(screen, async () => two, 'linux') });
    try {
      const give = () =>
        new Promise<unknown>((resolve) =>
          displayMediaRequestHandler({ isTrustedFrame: (f) => isTrustedFrame(f, top), isCaptureConsented: () => svc.isCaptureConsented(), screens: async () => two, chosen: () => svc.chosenDisplayId(), onRefused: () => undefined })(
            { frame: top, securityOrigin: 'chaperone-app://ui', videoRequested: true, audioRequested: false, userGesture: true },
            resolve,
          ),
        );
      const listed = await svc.handlers['displays.list']();
      expect(listed).toEqual({
        picker: 'main',
        chosen: null,
        displays: [
          { id: 'screen:21:0', index: 1, width: 1280, height: 720 },
          { id: 'screen:22:0', index: 2, width: 1280, height: 720 },
        ],
      });
      const req = await analyst.api.post('/api/v1/sessions', { ticket: `INC-${Date.now()}`, reason: 'two screens', capabilities: ['view'], duration_minutes: 10 });
      const code = (await analyst.api.post(`/api/v1/sessions/${req.body.id}/code`, {})).body.code_display as string;
      const url = `${b.url}/api/v1/join`;
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', dpop: await svc.handlers['device.dpopProof']({ htm: 'POST', htu: url }) }, body: JSON.stringify({ code }) });
      const offer = ((await res.json()) as { offer: string }).offer;
      await svc.handlers['offer.verify']({ offer });
      const { sid } = await svc.handlers['consent.receipt']({ offer, decision: 'accept' });
      // Consent alone, with two screens: the page gets nothing until the end user chose one.
      expect(await give()).toBeNull();
      expect(await svc.handlers['displays.select']({ id: 'screen:99:0' })).toEqual({ ok: false, reason: 'unknown_display' });
      expect(await give()).toBeNull();
      expect(await svc.handlers['displays.select']({ id: 'screen:22:0' })).toEqual({ ok: true, display: { id: 'screen:22:0', index: 2, width: 1280, height: 720 }, count: 2 });
      expect(await give()).toEqual({ video: two[1] });
      // Where several pages share main (the browser host), only the sharing page moves the display.
      await svc.handlersFor('end-user-page')['session.open']({ sessionId: sid, expiresAt: clock.now() + 600_000 });
      expect(await svc.handlersFor('staff-page')['displays.select']({ id: 'screen:21:0' })).toEqual({ ok: false, reason: 'other_page' });
      expect(svc.chosenDisplayId()).toBe('screen:22:0');
      // The bridge's schema refuses what is not an id before any handler sees it.
      await expect(dispatchBridgeCall(svc.handlers, 'displays.select', [{ id: 'x'.repeat(65) }])).rejects.toThrow();
    } finally {
      await svc.close();
      fs.rmSync(dir2, { recursive: true, force: true });
    }
  });

  it('an accepted consent that never started capturing lapses after a minute', async () => {
    const offer = await offerForThisDevice();
    await services.handlers['offer.verify']({ offer });
    await services.handlers['consent.receipt']({ offer, decision: 'accept' });
    expect(await capture()).not.toBeNull();
    await clock.advance(61_000);
    expect(await capture()).toBeNull();
  });
});
