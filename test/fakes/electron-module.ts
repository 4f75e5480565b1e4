/**
 * A fake of the `electron` module as a whole, for the one test that loads the composition root
 * (main/electron/main.ts) in Node: the binary cannot run here. It is built from the small fakes in
 * electron-fakes.ts plus what main.ts touches at start (app, session, protocol, safeStorage...),
 * and records what the root did so the test can check the wiring and drive its events.
 */
import { EventEmitter } from 'node:events';
import { FakeApp, FakeBrowserWindow, FakeGlobalShortcuts, FakeIpcMain, FakeWebContents, fakeFrame, fakeKeychainCipher } from './electron-fakes.js';
import type { FrameLike } from '../../main/electron/sender-check.js';

export interface FakeElectronSetup {
  userData: string;
  appPath: string;
  argv?: string[];
}

let setup: FakeElectronSetup | null = null;
export function configureFakeElectron(s: FakeElectronSetup): void {
  setup = s;
}

class FakeElectronApp extends FakeApp {
  isPackaged = false;
  sandboxed = false;
  quitCalls = 0;
  exitCode: number | null = null;
  private readonly ready: Promise<void> = new Promise((r) => setImmediate(r));
  enableSandbox(): void {
    this.sandboxed = true;
  }
  whenReady(): Promise<void> {
    return this.ready;
  }
  getPath(name: string): string {
    if (!setup || (name !== 'userData' && name !== 'downloads')) throw new Error(`fake app.getPath(${name}) not configured`);
    return name === 'userData' ? setup.userData : `${setup.userData}/Downloads`;
  }
  getAppPath(): string {
    if (!setup) throw new Error('fake app not configured');
    return setup.appPath;
  }
  quit(): void {
    this.quitCalls++;
    const e = { defaultPrevented: false, preventDefault: () => (e.defaultPrevented = true) };
    this.fire('before-quit', e);
    this.fire('will-quit', e);
  }
  exit(code: number): void {
    this.exitCode = code;
  }
}

export const app = new FakeElectronApp();

class FakeContents extends FakeWebContents {
  readonly sent: { channel: string; message: unknown }[] = [];
  mainFrame: FrameLike = fakeFrame('about:blank', { processId: 11, routingId: 1 });
  destroyed = false;
  isDestroyed(): boolean {
    return this.destroyed;
  }
  send(channel: string, message: unknown): void {
    this.sent.push({ channel, message });
  }
  /** Like Chromium's reload (Ctrl+R): a full navigation to the page already shown. */
  reload(): void {
    this.fire('did-navigate');
  }
}

export class BrowserWindow extends FakeBrowserWindow {
  static readonly all: BrowserWindow[] = [];
  readonly webContents = new FakeContents();
  readonly loaded: string[] = [];
  focused = 0;
  constructor(readonly options: Record<string, any>) {
    super();
    BrowserWindow.all.push(this);
    app.fire('web-contents-created', {}, this.webContents);
  }
  once(event: string, fn: (...a: unknown[]) => void): this {
    return this.on(event, fn);
  }
  focus(): void {
    this.focused++;
  }
  async loadURL(url: string): Promise<void> {
    const current = this.webContents.mainFrame.url;
    this.loaded.push(url);
    this.webContents.mainFrame = fakeFrame(url, { processId: 11, routingId: 1 });
    // Like Chromium: a change of fragment only is a same-document navigation; loading the same
    // address again, or one without a fragment, is a full one.
    const inPage = current.split('#')[0] === url.split('#')[0] && url.includes('#') && url !== current;
    this.webContents.fire(inPage ? 'did-navigate-in-page' : 'did-navigate');
    this.fire('ready-to-show');
  }
}

export const ipcMain = new FakeIpcMain();

export const globalShortcut = Object.assign(new FakeGlobalShortcuts(), {
  unregisterAll(this: FakeGlobalShortcuts) {
    this.registered.clear();
  },
});

const keychain = fakeKeychainCipher();
export const safeStorage = {
  backend: 'gnome_libsecret',
  isEncryptionAvailable: () => true,
  getSelectedStorageBackend(): string {
    return this.backend;
  },
  encryptString: (plain: string): Buffer => keychain.encryptString(plain),
  decryptString: (buf: Buffer): string => keychain.decryptString(buf),
};

class FakeSession extends EventEmitter {
  readonly protocolHandlers = new Map<string, (req: Request) => Promise<Response> | Response>();
  readonly protocol = { handle: (scheme: string, fn: (req: Request) => Promise<Response> | Response) => this.protocolHandlers.set(scheme, fn) };
  permissionRequest: ((...a: any[]) => void) | null = null;
  permissionCheck: ((...a: any[]) => boolean) | null = null;
  devicePermission: ((...a: any[]) => boolean) | null = null;
  displayMedia: ((...a: any[]) => void) | null = null;
  setPermissionRequestHandler(h: (...a: any[]) => void): void {
    this.permissionRequest = h;
  }
  setPermissionCheckHandler(h: (...a: any[]) => boolean): void {
    this.permissionCheck = h;
  }
  setDevicePermissionHandler(h: (...a: any[]) => boolean): void {
    this.devicePermission = h;
  }
  setDisplayMediaRequestHandler(h: (...a: any[]) => void): void {
    this.displayMedia = h;
  }
}
export const session = { defaultSession: new FakeSession() };

export const protocol = {
  privileged: [] as unknown[],
  registerSchemesAsPrivileged(list: unknown[]): void {
    this.privileged.push(...list);
  },
};

export const desktopCapturer = {
  getSources: async () => [
    { id: 'screen:2:0', name: 'Screen 2', display_id: '2' },
    { id: 'screen:1:0', name: 'Entire screen', display_id: '1' },
  ],
};
export const screen = {
  getPrimaryDisplay: () => ({ id: 1, bounds: { x: 0, y: 0, width: 1280, height: 720 }, scaleFactor: 1 }),
  dipToScreenRect: (_w: unknown, r: { x: number; y: number; width: number; height: number }) => r,
};
/** macOS's answers (only consulted when process.platform is darwin). */
export const systemPreferences = {
  isTrustedAccessibilityClient: (_prompt: boolean) => true,
  getMediaAccessStatus: (_media: string) => 'granted',
};
/** Electron's ClipboardItem as the app's port builds one for a picture: its types and their blobs. */
export class ClipboardItem {
  readonly types: string[];
  constructor(private readonly items: Record<string, Blob>) {
    this.types = Object.keys(items);
  }
  async getType(type: string): Promise<Blob> {
    const b = this.items[type];
    if (!b) throw new Error(`no ${type} in this item`);
    return b;
  }
}
/** An in-memory clipboard: text, or items (a picture), as the app's port reads it. */
export const clipboard = {
  text: '',
  items: [] as ClipboardItem[],
  has: async (mimetype: string) => (mimetype === 'text/plain' ? clipboard.text !== '' : clipboard.items.some((i) => i.types.includes(mimetype))),
  readText: async () => clipboard.text,
  async writeText(text: string): Promise<void> {
    clipboard.text = text;
    clipboard.items = [];
  },
  read: async () => clipboard.items,
  async write(items: ClipboardItem[]): Promise<void> {
    clipboard.items = items;
    clipboard.text = '';
  },
};
export const dialog = {
  errors: [] as { title: string; message: string }[],
  showErrorBox(title: string, message: string): void {
    this.errors.push({ title, message });
  },
};
/**
 * The system browser Electron would hand an address to: records it, and passes it to what the
 * test set as the browser (a fetch-driven person at the identity provider, test/helpers/oidc-idp.ts).
 */
export const shell = {
  opened: [] as string[],
  browser: null as ((url: string) => Promise<void>) | null,
  async openExternal(url: string): Promise<void> {
    this.opened.push(url);
    if (this.browser) void this.browser(url);
  },
};
/** Notifications that record what would have been shown, and can be clicked by a test. */
export class Notification {
  static shown: Notification[] = [];
  static isSupported(): boolean {
    return true;
  }
  private clicks: (() => void)[] = [];
  closed = false;
  constructor(readonly options: { title: string; body: string; silent?: boolean }) {}
  show(): void {
    Notification.shown.push(this);
  }
  close(): void {
    this.closed = true;
  }
  on(_event: 'click', listener: () => void): this {
    this.clicks.push(listener);
    return this;
  }
  click(): void {
    for (const l of this.clicks) l();
  }
}
