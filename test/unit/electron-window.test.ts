import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_PAGE } from '../../main/electron/app-origin.js';
import { APP_SCHEME_PRIVILEGES, appResponseHeaders, resolveAppFile } from '../../main/electron/app-protocol.js';
import { contentSecurityPolicy } from '../../main/content-security-policy.js';
import { displayMediaRequestHandler, type DisplayMediaRequest, type ScreenSource } from '../../main/electron/display-media.js';
import { guardNavigation, type Refusal } from '../../main/electron/navigation-guard.js';
import { decidePermission, permissionCheckHandler, permissionRequestHandler } from '../../main/electron/permissions.js';
import { isTrustedFrame } from '../../main/electron/sender-check.js';
import { SessionControls } from '../../main/electron/session-controls.js';
import { SessionWindowLock } from '../../main/electron/session-window-lock.js';
import { SECURE_WEB_PREFERENCES, mainWindowOptions } from '../../main/electron/window-options.js';
import { PANIC_CHORD } from '../../main/panic.js';
import { FakeBrowserWindow, FakeGlobalShortcuts, FakeWebContents, fakeFrame, fakeNavigationEvent } from '../fakes/electron-fakes.js';

describe('the window the app opens', () => {
  it('has a sandboxed, isolated renderer without Node, webviews or insecure content', () => {
    const o = mainWindowOptions({ preload: '/app/dist/app/preload.cjs', devTools: false });
    expect(o.webPreferences).toMatchObject({
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webviewTag: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      devTools: false,
      preload: '/app/dist/app/preload.cjs',
    });
    expect(o.webPreferences?.enableBlinkFeatures).toBeUndefined();
    expect(o.webPreferences?.disableBlinkFeatures).toBe('Auxclick');
    expect(o.webPreferences?.additionalArguments).toBeUndefined();
    expect(Object.isFrozen(SECURE_WEB_PREFERENCES)).toBe(true);
  });

  it('the page has its own secure origin, and every response carries a strict CSP', () => {
    expect(APP_SCHEME_PRIVILEGES.privileges).toMatchObject({ standard: true, secure: true, bypassCSP: false, allowServiceWorkers: false });
    const csp = contentSecurityPolicy('https://broker.example.com:8443');
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(csp).toContain("connect-src 'self' https://broker.example.com:8443 wss://broker.example.com:8443;");
    // The recording player's <video> loads from the broker (a playback ticket in the URL).
    expect(csp).toContain("media-src 'self' blob: mediastream: https://broker.example.com:8443;");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(appResponseHeaders('text/html', csp)['content-security-policy']).toBe(csp);
    expect(() => contentSecurityPolicy('file:///etc/passwd')).toThrow();
  });

  it('serves only files of the bundled renderer, never a path outside it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-renderer-'));
    try {
      expect(resolveAppFile(dir, 'GET', APP_PAGE)).toEqual({ file: path.join(dir, 'index.html'), type: 'text/html; charset=utf-8' });
      expect(resolveAppFile(dir, 'GET', 'chaperone-app://ui/assets/index-1.js')?.file).toBe(path.join(dir, 'assets', 'index-1.js'));
      // Dot segments are resolved by the URL parser; whatever is left stays inside the bundle.
      for (const url of ['chaperone-app://ui/../../etc/passwd.js', 'chaperone-app://ui/%2e%2e/%2e%2e/etc/passwd.js', 'chaperone-app://ui/assets/..%2f..%2f..%2fsecret.js']) {
        const r = resolveAppFile(dir, 'GET', url);
        expect(r === null || r.file.startsWith(dir + path.sep), url).toBe(true);
      }
      for (const url of [
        'chaperone-app://ui/../../etc/passwd',
        'chaperone-app://ui/.env.js',
        'chaperone-app://ui/assets/index.js.map',
        'chaperone-app://other/index.html',
        'https://ui/index.html',
        'chaperone-app://ui/%00.js',
      ]) {
        expect(resolveAppFile(dir, 'GET', url), url).toBeNull();
      }
      expect(resolveAppFile(dir, 'POST', APP_PAGE)).toBeNull();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('no new windows, no navigating away', () => {
  function guarded() {
    const contents = new FakeWebContents();
    const refused: Refusal[] = [];
    guardNavigation(contents, (r) => refused.push(r));
    return { contents, refused };
  }

  it('denies every window.open and target=_blank', () => {
    const { contents, refused } = guarded();
    expect(contents.windowOpenHandler?.({ url: 'https://evil.example/' })).toEqual({ action: 'deny' });
    expect(contents.windowOpenHandler?.({ url: APP_PAGE })).toEqual({ action: 'deny' });
    expect(refused.map((r) => r.what)).toEqual(['window-open', 'window-open']);
  });

  it('cancels navigations and redirects away from the app page, in either event form', () => {
    const { contents, refused } = guarded();
    for (const url of ['https://evil.example/', 'file:///etc/passwd', 'chaperone-app://ui/assets/x.js', 'javascript:alert(1)', `${APP_PAGE}?x=1`]) {
      const old = fakeNavigationEvent();
      contents.fire('will-navigate', old, url);
      expect(old.prevented, url).toBe(true);
      const modern = fakeNavigationEvent(url);
      contents.fire('will-frame-navigate', modern);
      expect(modern.prevented, url).toBe(true);
      const redirect = fakeNavigationEvent();
      contents.fire('will-redirect', redirect, url);
      expect(redirect.prevented, url).toBe(true);
    }
    const webview = fakeNavigationEvent();
    contents.fire('will-attach-webview', webview);
    expect(webview.prevented).toBe(true);
    expect(refused.length).toBe(16);
  });

  it("lets the app page's own routes through", () => {
    const { contents, refused } = guarded();
    const e = fakeNavigationEvent();
    contents.fire('will-navigate', e, `${APP_PAGE}#/staff`);
    expect(e.prevented).toBe(false);
    expect(refused).toEqual([]);
  });
});

describe('permissions: screen capture only, only for our page, only after consent', () => {
  const deps = (consented: boolean) => ({ isCaptureConsented: () => consented, onRefused: () => undefined });

  it('allows display capture to the app top frame once the end user consented', () => {
    expect(decidePermission('display-capture', { requestingUrl: APP_PAGE, isMainFrame: true }, deps(true))).toBe(true);
  });

  it('refuses before consent, to subframes, to other origins, and every other permission', () => {
    expect(decidePermission('display-capture', { requestingUrl: APP_PAGE, isMainFrame: true }, deps(false))).toBe(false);
    expect(decidePermission('display-capture', { requestingUrl: APP_PAGE, isMainFrame: false }, deps(true))).toBe(false);
    expect(decidePermission('display-capture', { requestingUrl: 'https://evil.example/', isMainFrame: true }, deps(true))).toBe(false);
    for (const p of ['media', 'notifications', 'clipboard-read', 'clipboard-sanitized-write', 'geolocation', 'hid', 'serial', 'usb', 'fullscreen', 'openExternal', 'pointerLock', 'unknown']) {
      expect(decidePermission(p, { requestingUrl: APP_PAGE, isMainFrame: true }, deps(true)), p).toBe(false);
    }
  });

  it('the request and check handlers Electron calls make the same decision', () => {
    let granted: boolean | null = null;
    permissionRequestHandler(deps(true))(null, 'media', (g) => (granted = g), { requestingUrl: APP_PAGE, isMainFrame: true, mediaTypes: ['video', 'audio'] });
    expect(granted).toBe(false);
    permissionRequestHandler(deps(true))(null, 'display-capture', (g) => (granted = g), { requestingUrl: APP_PAGE, isMainFrame: true });
    expect(granted).toBe(true);
    const check = permissionCheckHandler(deps(true));
    expect(check(null, 'display-capture', 'chaperone-app://ui', { isMainFrame: true })).toBe(true);
    expect(check(null, 'display-capture', 'https://evil.example', { isMainFrame: true })).toBe(false);
    expect(check(null, 'notifications', 'chaperone-app://ui', { isMainFrame: true })).toBe(false);
  });
});

describe("getDisplayMedia: main picks the screen, only under the end user's consent", () => {
  const top = fakeFrame(APP_PAGE, { processId: 7, routingId: 1 });
  const screens: ScreenSource[] = [
    { id: 'screen:1:0', name: 'Entire screen', display_id: '1' },
    { id: 'screen:2:0', name: 'Screen 2', display_id: '2' },
  ];
  const request = (o: Partial<DisplayMediaRequest> = {}): DisplayMediaRequest => ({ frame: top, securityOrigin: 'chaperone-app://ui', videoRequested: true, audioRequested: false, userGesture: true, ...o });

  async function ask(req: DisplayMediaRequest, consented = true, chosen: string | null = 'screen:1:0', list = screens): Promise<{ video: ScreenSource } | null> {
    return new Promise((resolve) => {
      displayMediaRequestHandler({
        isTrustedFrame: (f) => isTrustedFrame(f, top),
        isCaptureConsented: () => consented,
        screens: async () => list,
        chosen: () => chosen,
        onRefused: () => undefined,
      })(req, resolve);
    });
  }

  it('gives the chosen screen, video only, after consent and a click', async () => {
    expect(await ask(request({ audioRequested: true }))).toEqual({ video: screens[0] });
    expect(await ask(request(), true, 'screen:2:0')).toEqual({ video: screens[1] });
  });

  it('with several screens and no choice, or a choice no longer listed, gives nothing; a single screen needs no choice', async () => {
    expect(await ask(request(), true, null)).toBeNull();
    expect(await ask(request(), true, 'screen:9:0')).toBeNull();
    expect(await ask(request(), true, null, [screens[1]!])).toEqual({ video: screens[1] });
  });

  it('gives nothing without consent, without a gesture, to a subframe or another origin', async () => {
    expect(await ask(request(), false)).toBeNull();
    expect(await ask(request({ userGesture: false }))).toBeNull();
    expect(await ask(request({ frame: fakeFrame(APP_PAGE, { processId: 7, routingId: 2, parent: top }) }))).toBeNull();
    expect(await ask(request({ securityOrigin: 'https://evil.example', frame: fakeFrame('https://evil.example/', { processId: 7, routingId: 1 }) }))).toBeNull();
    expect(await ask(request({ frame: null }))).toBeNull();
    expect(await ask(request({ videoRequested: false, audioRequested: true }))).toBeNull();
  });
});

describe('while a session runs the window is the banner: on top, everywhere, not closable except by Stop', () => {
  function setup(sessions: string[] = []) {
    const win = new FakeBrowserWindow();
    const shortcuts = new FakeGlobalShortcuts();
    const lock = new SessionWindowLock(win);
    const panics: number[] = [];
    const unavailable: string[] = [];
    const controls = new SessionControls({ activeSessions: () => sessions, lock, shortcuts, onPanic: () => panics.push(1), onChordUnavailable: (e) => unavailable.push(e.message) });
    return { win, shortcuts, lock, controls, panics, unavailable, sessions };
  }

  it('with no session the window behaves like any window and no global shortcut is taken', () => {
    const { win, shortcuts, controls } = setup();
    controls.sync();
    expect(win.userCloses()).toBe(true);
    expect(shortcuts.registered.size).toBe(0);
    expect(win.alwaysOnTop.flag).toBe(false);
  });

  it('a session pins the window and arms the panic chord; Stop releases both', () => {
    const { win, shortcuts, controls, lock, panics, sessions } = setup();
    sessions.push('s1');
    controls.sync();
    expect(win.alwaysOnTop).toEqual({ flag: true, level: 'screen-saver' });
    expect(win.allWorkspaces).toBe(true);
    expect(win.closable).toBe(false);
    expect(win.minimizable).toBe(false);
    expect(win.userCloses()).toBe(false);
    win.userMinimises();
    expect(win.minimized).toBe(false);
    win.userHides();
    expect(win.visible).toBe(true);
    expect(lock.blocked).toBe(3);
    shortcuts.press(PANIC_CHORD.accelerator);
    expect(panics).toHaveLength(1);
    // Stop: the renderer's grants.revokeAll ends the session, the shell syncs after the call.
    sessions.length = 0;
    controls.sync();
    expect(win.closable).toBe(true);
    expect(win.alwaysOnTop.flag).toBe(false);
    expect(win.userCloses()).toBe(true);
    expect(shortcuts.registered.size).toBe(0);
  });

  it('quitting the app may close the window (its teardown ends the session)', () => {
    const { win, controls, lock, sessions } = setup(['s1']);
    controls.sync();
    expect(sessions).toHaveLength(1);
    lock.allowQuit();
    expect(win.userCloses()).toBe(true);
  });

  it('a chord held by another program is reported once and the session still runs with Stop', () => {
    const { shortcuts, controls, unavailable, win } = setup(['s1']);
    shortcuts.takenElsewhere.add(PANIC_CHORD.accelerator);
    controls.sync();
    controls.sync();
    expect(unavailable).toHaveLength(1);
    expect(win.closable).toBe(false);
    controls.dispose();
  });
});
