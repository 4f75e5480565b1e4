import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ipcChannel } from '../../common/bridge/api.js';
import { APP_PAGE } from '../../main/electron/app-origin.js';
import { registerBridgeIpc, type BridgeIpc } from '../../main/electron/ipc.js';
import { electronNotifier } from '../../main/electron/notifications.js';
import { isTrustedFrame } from '../../main/electron/sender-check.js';
import { MainServices, type MainServicesOptions } from '../../main/services.js';
import { FakeIpcMain, fakeFrame, fakeNotificationClass } from '../fakes/electron-fakes.js';

/**
 * The approver's desktop notification in the Electron app: the page asks main through the typed
 * bridge ('notify.show'), main shows it with Electron's Notification (a fake class here: the
 * binary cannot run), and a click brings the window back.
 */
describe("the desktop app's notifications go through main's Notification", () => {
  const appTop = fakeFrame(`${APP_PAGE}#/staff`, { processId: 7, routingId: 1 });
  const open: { services: MainServices; bridge: BridgeIpc; dir: string }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      o.bridge.dispose();
      await o.services.close();
      fs.rmSync(o.dir, { recursive: true, force: true });
    }
  });

  async function app(extra: Partial<MainServicesOptions> = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-notify-'));
    const services = await MainServices.start({ brokerUrl: 'http://127.0.0.1:9', dataDir: dir, ...extra });
    const ipc = new FakeIpcMain();
    const refused: string[] = [];
    const bridge = registerBridgeIpc(ipc, { handlers: services.handlers, isTrustedSender: (f) => isTrustedFrame(f, appTop), onRefused: (r) => refused.push(`${r.method}:${r.reason}`) });
    open.push({ services, bridge, dir });
    return { ipc, refused, show: (frame: ReturnType<typeof fakeFrame>, n: unknown) => ipc.invoke(ipcChannel('notify.show'), frame, n) };
  }

  it('shows the notice from the app page, and a click brings the window forward', async () => {
    const fake = fakeNotificationClass();
    let focused = 0;
    const a = await app({ notifier: electronNotifier(fake.Notification, () => focused++) });
    const n = { title: 'Approval needed: INC-7', body: 'Alice Ng asks to see the user’s screen for 15 minutes.', tag: '0b7c2f8e-6a51-4b39-9b8e-2a3f4c5d6e7f' };
    await expect(a.show(appTop, n)).resolves.toEqual({ shown: true });
    expect(fake.made.map((m) => [m.options.title, m.options.body, m.shown])).toEqual([[n.title, n.body, true]]);
    fake.made[0]!.click();
    expect(focused).toBe(1);
    // The same request again replaces its notice instead of piling up.
    await a.show(appTop, n);
    expect(fake.made.map((m) => [m.shown, m.closed])).toEqual([
      [true, true],
      [true, false],
    ]);
  });

  it('refuses another frame and text a person could be fooled by, before Electron sees it', async () => {
    const fake = fakeNotificationClass();
    const a = await app({ notifier: electronNotifier(fake.Notification, () => undefined) });
    const sub = fakeFrame(APP_PAGE, { processId: 7, routingId: 3, parent: appTop });
    await expect(a.show(sub, { title: 'x', body: 'y', tag: 't' })).rejects.toThrow(/refused/);
    await expect(a.show(appTop, { title: 'Approval needed: \u202eKCATTA', body: 'y', tag: 't' })).rejects.toThrow();
    await expect(a.show(appTop, { title: 'x', body: 'y'.repeat(301), tag: 't' })).rejects.toThrow();
    await expect(a.show(appTop, { title: 'x', body: 'y', tag: 't', icon: 'file:///etc/passwd' })).rejects.toThrow();
    expect(a.refused).toEqual(['notify.show:sender', 'notify.show:invalid_args', 'notify.show:invalid_args', 'notify.show:invalid_args']);
    expect(fake.made).toEqual([]);
  });

  it('says it showed nothing where there is no notifier (the browser host), the system has none, or analyst mode is off', async () => {
    const plain = await app();
    await expect(plain.show(appTop, { title: 'x', body: 'y', tag: 't' })).resolves.toEqual({ shown: false });
    const unsupported = fakeNotificationClass(false);
    const none = await app({ notifier: electronNotifier(unsupported.Notification, () => undefined) });
    await expect(none.show(appTop, { title: 'x', body: 'y', tag: 't' })).resolves.toEqual({ shown: false });
    expect(unsupported.made).toEqual([]);
    const fake = fakeNotificationClass();
    const off = await app({ notifier: electronNotifier(fake.Notification, () => undefined), machinePolicy: { status: 'invalid', source: 'test', message: 'broken policy' } as never });
    await expect(off.show(appTop, { title: 'x', body: 'y', tag: 't' })).resolves.toEqual({ shown: false });
    expect(fake.made).toEqual([]);
  });
});
