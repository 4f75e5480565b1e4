import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BRIDGE_METHODS, IPC_EVENT_CHANNEL, ipcChannel, type BridgeMethod } from '../../common/bridge/api.js';
import { MainServices } from '../../main/services.js';
import { APP_PAGE } from '../../main/electron/app-origin.js';
import { eventPusher, registerBridgeIpc, type BridgeIpc } from '../../main/electron/ipc.js';
import { isTrustedFrame } from '../../main/electron/sender-check.js';
import { FakeIpcMain, fakeFrame } from '../fakes/electron-fakes.js';

describe('the Electron IPC bridge: sender check, then the shared schema, then the real services', () => {
  let dir: string;
  let services: MainServices;
  let ipc: FakeIpcMain;
  let bridge: BridgeIpc;
  const refusals: string[] = [];
  // The app window's top frame, as Electron would report it.
  const appTop = fakeFrame(`${APP_PAGE}#/`, { processId: 7, routingId: 1 });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-ipc-'));
    services = await MainServices.start({ brokerUrl: 'http://127.0.0.1:9', dataDir: dir });
    ipc = new FakeIpcMain();
    refusals.length = 0;
    bridge = registerBridgeIpc(ipc, {
      handlers: services.handlers,
      isTrustedSender: (f) => isTrustedFrame(f, appTop),
      onRefused: (r) => refusals.push(`${r.method}:${r.reason}`),
    });
  });

  afterEach(async () => {
    bridge.dispose();
    await services.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves every bridge method, each on its own channel', () => {
    expect([...ipc.handlers.keys()].sort()).toEqual((Object.keys(BRIDGE_METHODS) as BridgeMethod[]).map(ipcChannel).sort());
  });

  it("a good call from the app's top frame reaches the services and comes back parsed", async () => {
    const jwk = await ipc.invoke(ipcChannel('device.publicJwk'), appTop);
    expect(jwk).toEqual(services.device.publicJwk);
    const sid = crypto.randomUUID();
    await expect(ipc.invoke(ipcChannel('session.open'), appTop, { sessionId: sid, expiresAt: Date.now() + 60_000 })).resolves.toEqual({ ok: true });
    expect(services.activeSessions()).toEqual([sid]);
    expect(refusals).toEqual([]);
  });

  it('refuses and counts calls from anything but our top frame, before any handler runs', async () => {
    const sid = crypto.randomUUID();
    const open = (frame: Parameters<typeof ipc.invoke>[1]) => ipc.invoke(ipcChannel('session.open'), frame, { sessionId: sid, expiresAt: Date.now() + 60_000 });
    const senders = {
      // An iframe inside our own page (same origin, same process).
      subframe: fakeFrame(APP_PAGE, { processId: 7, routingId: 3, parent: appTop }),
      // Another window or webContents showing our page.
      'another window': fakeFrame(APP_PAGE, { processId: 9, routingId: 1 }),
      // Our window after it navigated to a foreign origin.
      'a foreign origin': fakeFrame('https://evil.example/index.html', { processId: 7, routingId: 1 }),
      // Our origin but not our page (a file of the bundle loaded as a document).
      'another page of our origin': fakeFrame('chaperone-app://ui/assets/x.html', { processId: 7, routingId: 1 }),
      'a file: URL': fakeFrame('file:///index.html', { processId: 7, routingId: 1 }),
      'our page with a query': fakeFrame(`${APP_PAGE}?k=1`, { processId: 7, routingId: 1 }),
    };
    for (const [name, frame] of Object.entries(senders)) {
      await expect(open(frame), name).rejects.toThrow(/refused/);
    }
    // A frame that was destroyed before the call arrived.
    await expect(open(null)).rejects.toThrow(/refused/);
    expect(services.activeSessions()).toEqual([]);
    expect(bridge.refused).toBe(Object.keys(senders).length + 1);
    expect(refusals.every((r) => r === 'session.open:sender')).toBe(true);
  });

  it('refuses arguments the shared schema does not accept, and the services never see them', async () => {
    const sid = crypto.randomUUID();
    const bad: unknown[][] = [
      [],
      [{ sessionId: 'not-a-uuid', expiresAt: 1 }],
      [{ sessionId: sid, expiresAt: -1 }],
      [{ sessionId: sid, expiresAt: 1, extra: true }],
      [{ sessionId: sid, expiresAt: '1' }],
      [{ sessionId: sid, expiresAt: 1 }, 'a second argument'],
      ['{"sessionId":"x"}'],
    ];
    for (const args of bad) await expect(ipc.invoke(ipcChannel('session.open'), appTop, ...args)).rejects.toThrow(/session\.open/);
    await expect(ipc.invoke(ipcChannel('grants.acquire'), appTop, { sessionId: sid, kind: 'root-shell' })).rejects.toThrow(/grants\.acquire/);
    await expect(ipc.invoke(ipcChannel('input.deliver'), appTop, { sessionId: sid, data: 'x'.repeat(1_000_000), channel: 'pointer' })).rejects.toThrow(/input\.deliver/);
    expect(services.activeSessions()).toEqual([]);
    expect(bridge.refused).toBe(bad.length + 2);
  });

  it("pushes main's events to the app window only while it shows the app page", () => {
    const sent: unknown[] = [];
    let url = APP_PAGE;
    const contents = {
      isDestroyed: () => false,
      send: (channel: string, msg: unknown) => sent.push({ channel, msg }),
      get mainFrame() {
        return fakeFrame(url, { processId: 7, routingId: 1 });
      },
    };
    const push = eventPusher(() => contents, (f) => isTrustedFrame(f, appTop));
    const off = services.onEvent(push);
    services.panic();
    expect(sent).toEqual([{ channel: IPC_EVENT_CHANNEL, msg: { event: 'panic', payload: {} } }]);
    url = 'https://evil.example/';
    services.panic();
    expect(sent).toHaveLength(1);
    off();
  });
});
