import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BRIDGE_METHODS, IPC_EVENT_CHANNEL, ipcChannel, type BridgeMethod } from '../../common/bridge/api.js';
import { APP_PAGE } from '../../main/electron/app-origin.js';
import { PANIC_CHORD } from '../../main/panic.js';
import { fakeFrame } from '../fakes/electron-fakes.js';
import * as electron from '../fakes/electron-module.js';

// The composition root imports `electron`; the binary cannot run here, so the module is the fake.
vi.mock('electron', async () => await import('../fakes/electron-module.js'));

/**
 * The composition root (main/electron/main.ts) loaded whole, against the fake electron module and
 * the real main-process services: it registers its scheme and sandbox before ready, then wires
 * page, window, permissions, IPC, secrets, panic chord and teardown the way the modules' own tests
 * expect. The real Electron runs it in test/electron/ where the binary exists.
 */
async function until(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error('the composition root did not open its window in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the composition root wires the shell together', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-root-'));
  const userData = path.join(dir, 'userData');
  const appPath = path.join(dir, 'app');
  let win: electron.BrowserWindow;
  const CODE = '7KQ2MXW9PC';

  beforeAll(async () => {
    fs.mkdirSync(path.join(appPath, 'dist/app/renderer'), { recursive: true });
    fs.writeFileSync(path.join(appPath, 'dist/app/renderer/index.html'), '<!doctype html><title>Chaperone</title>');
    electron.configureFakeElectron({ userData, appPath });
    process.env.CHAPERONE_BROKER_URL = 'http://127.0.0.1:7499';
    await import('../../main/electron/main.js');
    await until(() => electron.BrowserWindow.all[0]?.loaded.length === 1);
    win = electron.BrowserWindow.all[0]!;
  });

  afterAll(() => {
    delete process.env.CHAPERONE_BROKER_URL;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const top = () => win.webContents.mainFrame;

  it('before ready: the app scheme is privileged and every renderer sandboxed; one instance; links registered with `--`', () => {
    expect(electron.protocol.privileged).toMatchObject([{ scheme: 'chaperone-app', privileges: { standard: true, secure: true } }]);
    expect(electron.app.sandboxed).toBe(true);
    expect(electron.app.protocolClient?.protocol).toBe('chaperone');
    expect(electron.app.protocolClient?.args?.at(-1)).toBe('--');
  });

  it('one hardened window showing the app page, served with the CSP naming the broker', async () => {
    expect(win.options.webPreferences).toMatchObject({ sandbox: true, contextIsolation: true, nodeIntegration: false, webviewTag: false, preload: path.join(appPath, 'dist/app/preload.cjs') });
    expect(win.loaded).toEqual([APP_PAGE]);
    const serve = electron.session.defaultSession.protocolHandlers.get('chaperone-app')!;
    const res = await serve(new Request(APP_PAGE));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self' http://127.0.0.1:7499 ws://127.0.0.1:7499");
    expect((await serve(new Request('chaperone-app://ui/../../userData/secrets/device-key.enc'))).status).toBe(404);
    expect(win.webContents.windowOpenHandler?.({ url: 'https://example.com' })).toEqual({ action: 'deny' });
  });

  it('the device key is kept encrypted by safeStorage, in a 0600 file', () => {
    const file = path.join(userData, 'secrets', 'device-key.enc');
    expect(fs.existsSync(file)).toBe(true);
    if (process.platform !== 'win32') expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file).includes(Buffer.from('"kty"'))).toBe(false);
  });

  it('every bridge method answers our top frame and refuses a subframe', async () => {
    for (const m of Object.keys(BRIDGE_METHODS) as BridgeMethod[]) expect(electron.ipcMain.handlers.has(ipcChannel(m))).toBe(true);
    expect(await electron.ipcMain.invoke(ipcChannel('device.publicJwk'), top())).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    await expect(electron.ipcMain.invoke(ipcChannel('device.publicJwk'), fakeFrame(APP_PAGE, { processId: 11, routingId: 5, parent: top() }))).rejects.toThrow(/refused/);
  });

  it("single sign-on goes to the system browser (shell), and only to the broker's provider", async () => {
    expect(await electron.ipcMain.invoke(ipcChannel('policy.get'), top())).toMatchObject({ ssoLoopback: true });
    const l = (await electron.ipcMain.invoke(ipcChannel('sso.begin'), top())) as { ok: boolean; redirectUri?: string };
    expect(l).toMatchObject({ ok: true, redirectUri: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/sso\/callback$/) });
    // This broker does not answer, so no provider is known: nothing is opened.
    const opened = electron.shell.opened.length;
    expect(await electron.ipcMain.invoke(ipcChannel('sso.open'), top(), { url: `https://idp.example/authorize?redirect_uri=${encodeURIComponent(l.redirectUri!)}` })).toMatchObject({ ok: false, reason: 'provider_unknown' });
    expect(electron.shell.opened.length).toBe(opened);
  });

  it('a session locks the window and arms the chord; the chord ends the session and tells the page', async () => {
    const sid = crypto.randomUUID();
    await electron.ipcMain.invoke(ipcChannel('session.open'), top(), { sessionId: sid, expiresAt: Date.now() + 60_000 });
    expect(win.closable).toBe(false);
    expect(win.alwaysOnTop.flag).toBe(true);
    expect(win.userCloses()).toBe(false);
    expect(electron.globalShortcut.registered.has(PANIC_CHORD.accelerator)).toBe(true);
    electron.globalShortcut.press(PANIC_CHORD.accelerator);
    await expect.poll(() => win.closable).toBe(true);
    expect(win.webContents.sent).toContainEqual({ channel: IPC_EVENT_CHANNEL, message: { event: 'panic', payload: {} } });
    expect(electron.globalShortcut.registered.size).toBe(0);
    expect(await electron.ipcMain.invoke(ipcChannel('grants.acquire'), top(), { sessionId: sid, kind: 'capture' })).toMatchObject({ ok: false, reason: 'unknown_session' });
  });

  it("a waiting request is told by the system's notification; clicking it brings the window back", async () => {
    const before = electron.Notification.shown.length;
    const r = await electron.ipcMain.invoke(ipcChannel('notify.show'), top(), { title: 'A request waits for you', body: 'Alice Ng asks for INC-4711', tag: 'req-1' });
    expect(r).toEqual({ shown: true });
    const note = electron.Notification.shown.at(-1)!;
    expect(electron.Notification.shown.length).toBe(before + 1);
    expect(note.options).toMatchObject({ title: 'A request waits for you', body: 'Alice Ng asks for INC-4711' });
    win.userMinimises();
    const focused = win.focused;
    note.click();
    expect(win.isMinimized()).toBe(false);
    expect(win.focused).toBeGreaterThan(focused);
    // The same request told again replaces its notice; text with control characters is refused.
    await electron.ipcMain.invoke(ipcChannel('notify.show'), top(), { title: 'A request waits for you', body: 'again', tag: 'req-1' });
    expect(note.closed).toBe(true);
    await expect(electron.ipcMain.invoke(ipcChannel('notify.show'), top(), { title: 'x\u202e', body: 'y', tag: 'req-2' })).rejects.toThrow();
  });

  it('a join link from a second start routes the page to the code; a hostile one changes nothing', () => {
    electron.app.fire('second-instance', {}, ['/opt/Chaperone/chaperone', '--', `chaperone://join/${CODE} --no-sandbox`], '/');
    expect(win.loaded).toHaveLength(1);
    electron.app.fire('second-instance', {}, ['/opt/Chaperone/chaperone', '--', `chaperone://join/${CODE}`], '/');
    expect(win.loaded.at(-1)).toBe(`${APP_PAGE}#/join/${CODE}`);
    expect(win.focused).toBeGreaterThan(0);
  });

  it('a crashed page ends the session locally and the page is loaded afresh', async () => {
    const sid = crypto.randomUUID();
    await electron.ipcMain.invoke(ipcChannel('session.open'), top(), { sessionId: sid, expiresAt: Date.now() + 60_000 });
    expect(win.closable).toBe(false);
    const loads = win.loaded.length;
    win.webContents.fire('render-process-gone', {}, { reason: 'crashed', exitCode: 1 });
    await expect.poll(() => win.closable).toBe(true);
    await expect.poll(() => win.loaded.length).toBe(loads + 1);
    expect(win.loaded.at(-1)).toBe(APP_PAGE);
  });

  it('a reloaded page ends the session locally: its grants go with the page that held them', async () => {
    const sid = crypto.randomUUID();
    await electron.ipcMain.invoke(ipcChannel('session.open'), top(), { sessionId: sid, expiresAt: Date.now() + 60_000 });
    expect(await electron.ipcMain.invoke(ipcChannel('grants.acquire'), top(), { sessionId: sid, kind: 'capture' })).toMatchObject({ ok: true });
    expect(win.closable).toBe(false);
    // A reload is a full navigation to the same page (not a change of fragment).
    win.webContents.reload();
    await expect.poll(() => win.closable).toBe(true);
    expect(await electron.ipcMain.invoke(ipcChannel('grants.list'), top())).toEqual([]);
    expect(await electron.ipcMain.invoke(ipcChannel('grants.acquire'), top(), { sessionId: sid, kind: 'capture' })).toMatchObject({ ok: false, reason: 'unknown_session' });
  });

  it('quitting during a session waits for the teardown before quitting, and the window may then go', async () => {
    const sid = crypto.randomUUID();
    await electron.ipcMain.invoke(ipcChannel('session.open'), top(), { sessionId: sid, expiresAt: Date.now() + 60_000 });
    expect(win.userCloses()).toBe(false);
    const before = electron.app.quitCalls;
    electron.app.quit();
    // The first quit waits for the teardown, then quits again.
    await until(() => electron.app.quitCalls === before + 2);
    expect(win.userCloses()).toBe(true);
    expect(electron.globalShortcut.registered.size).toBe(0);
  });
});
