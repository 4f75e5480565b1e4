// First, before the rest loads: main/young-generation.ts says why.
import '../young-generation.js';
import path from 'node:path';
import { BrowserWindow, Notification, app, clipboard, desktopCapturer, ClipboardItem, dialog, globalShortcut, ipcMain, protocol, safeStorage, screen, session, shell, systemPreferences } from 'electron';
import { contentSecurityPolicy } from '../content-security-policy.js';
import { captureRefusal, electronDesktopPermissions } from '../injector-permissions.js';
import { joinCodeFromArgv } from '../join-link.js';
import { loadMachinePolicy, type MachinePolicyResult } from '../machine-policy/index.js';
import { MainServices, type MainServicesOptions } from '../services.js';
import { APP_PAGE } from './app-origin.js';
import { APP_SCHEME_PRIVILEGES, serveAppProtocol } from './app-protocol.js';
import { brokerUrlFor } from './broker-url.js';
import { electronClipboard } from './clipboard.js';
import { displayMediaRequestHandler, type ScreenSource } from './display-media.js';
import { ElectronDisplays, desktopInfo } from './displays-electron.js';
import { isTargetOs } from '../injectors/target-os.js';
import { eventPusher, registerBridgeIpc } from './ipc.js';
import { guardNavigation } from './navigation-guard.js';
import { permissionCheckHandler, permissionRequestHandler } from './permissions.js';
import { safeStorageSecrets } from './safe-storage-secrets.js';
import { isTrustedFrame } from './sender-check.js';
import { SessionControls } from './session-controls.js';
import { SessionWindowLock } from './session-window-lock.js';
import { claimSingleInstance, registerJoinLinks } from './single-instance.js';
import { mainWindowOptions } from './window-options.js';
import { electronNotifier } from './notifications.js';

/**
 * The composition root of the desktop app: the only file that wires the real electron module to
 * the main-process services. Every decision lives in the small modules beside it (tested in Node
 * without the binary); this file only connects them, in the order Electron requires.
 */

const log = (msg: string): void => void process.stderr.write(`chaperone: ${msg}\n`);

// Before `ready`, as Electron requires: our page's origin, and the sandbox for every renderer.
protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
app.enableSandbox();

let win: BrowserWindow | null = null;
let services: MainServices | null = null;
let pendingJoinCode = joinCodeFromArgv(process.argv);
let tornDown = false;

function deliverJoinCode(code: string): void {
  if (!win || win.isDestroyed()) {
    pendingJoinCode = code;
    return;
  }
  // A link never interrupts a running session: the end user finishes (or stops) it first.
  if ((services?.activeSessions().length ?? 0) > 0) return log('join link ignored: a session is running');
  // Only the fragment changes (the app's route), so the page is not reloaded.
  win.loadURL(`${APP_PAGE}#/join/${code}`).catch((err: unknown) => log(`join link: ${String((err as Error)?.message ?? err)}`));
}

function focusWindow(): void {
  if (!win || win.isDestroyed()) return;
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

if (!claimSingleInstance(app, { focus: focusWindow, onJoinCode: deliverJoinCode, onRefusedLink: () => log('a link that is not exactly chaperone://join/CODE was ignored') })) {
  app.quit();
} else {
  if (!registerJoinLinks(app, process.execPath, process.defaultApp === true, path.resolve(process.argv[1] ?? '.'))) log('could not register chaperone:// links');
  app.on('web-contents-created', (_e, contents) => guardNavigation(contents, (r) => log(`refused ${r.what} to ${r.url}`)));
  // start() failing (a bad broker address, services that cannot start) must show its reason and
  // exit, not leave a process holding the single-instance lock with no window.
  app
    .whenReady()
    .then(start)
    .catch((err: unknown) => fail(err));
}

function fail(err: unknown): void {
  const message = (err as Error)?.message ?? String(err);
  log(message);
  dialog.showErrorBox('Chaperone cannot start', message);
  app.exit(1);
}

async function start(): Promise<void> {
  const userData = app.getPath('userData');
  const machinePolicy: MachinePolicyResult = await loadMachinePolicy({ platform: process.platform });
  if (machinePolicy.status === 'invalid') log(machinePolicy.message);
  const brokerUrl = brokerUrlFor(machinePolicy, process.env);
  // MainServices refuses sessions while the machine policy is invalid (fail closed, with the
  // message for the helpdesk) and applies its consent floor otherwise.
  const opts: MainServicesOptions = {
    brokerUrl,
    dataDir: path.join(userData, 'state'),
    secrets: safeStorageSecrets(safeStorage, path.join(userData, 'secrets'), process.platform),
    policy: { panicChord: true },
    machinePolicy,
    // macOS asks before control and capture (Accessibility, Screen Recording); Windows and macOS
    // inject over the whole desktop, and the input gate places the analyst's point on the display
    // display-media.ts shares (the end user's choice among ElectronDisplays).
    createInjector: async () => {
      const { createInjector } = await import('../injector-factory.js');
      const target = process.platform === 'linux' || !isTargetOs(process.platform) ? undefined : desktopInfo(screen, process.platform);
      return createInjector(process.platform, { target, permissions: electronDesktopPermissions(systemPreferences) });
    },
    captureRefusal: () => captureRefusal(process.platform, electronDesktopPermissions(systemPreferences)),
    // Received files land where the end user's own Downloads folder is, as the operating system names it.
    receiveFolder: app.getPath('downloads'),
    clipboard: electronClipboard(clipboard, (png) => new ClipboardItem({ 'image/png': png })),
    // Single sign-on in the system browser (RFC 8252).
    // electronegativity-ok: only SsoDesktop.open calls this, and only for the broker provider authorization endpoint with a PKCE code request answering to our loopback listener (check())
    openExternal: (url) => shell.openExternal(url),
    // An approver hears of a waiting request while the window is behind others; a click brings it back.
    notifier: electronNotifier(Notification, () => {
      if (win && !win.isDestroyed()) {
        if (win.isMinimized()) win.restore();
        win.focus();
      }
    }),
    onError: (err) => log(String((err as Error)?.message ?? err)),
    ...(isTargetOs(process.platform) ? { displays: new ElectronDisplays(screen, listScreens, process.platform) } : {}),
  };
  try {
    services = await MainServices.start(opts);
  } catch (err) {
    return fail(err);
  }
  const s = services;

  const ses = session.defaultSession;
  const rendererDir = path.join(app.getAppPath(), 'dist', 'app', 'renderer');
  serveAppProtocol(ses.protocol, rendererDir, contentSecurityPolicy(brokerUrl));
  const refused = (what: string) => log(`refused ${what}`);
  ses.setPermissionRequestHandler(permissionRequestHandler({ isCaptureConsented: () => s.isCaptureConsented(), onRefused: (r) => refused(`permission ${r.permission} for ${r.from}`) }));
  ses.setPermissionCheckHandler(permissionCheckHandler({ isCaptureConsented: () => s.isCaptureConsented(), onRefused: () => undefined }));
  ses.setDevicePermissionHandler(() => false);
  ses.on('will-download', (event) => event.preventDefault());

  // electronegativity-ok: the options come from mainWindowOptions (window-options.ts): sandbox, contextIsolation, no nodeIntegration, Auxclick off, our bundled preload; test/unit/electron-window.test.ts asserts them
  win = new BrowserWindow(mainWindowOptions({ preload: path.join(app.getAppPath(), 'dist', 'app', 'preload.cjs'), devTools: !app.isPackaged }));
  const w = win;
  const trusted = (frame: Parameters<typeof isTrustedFrame>[0]) => !w.isDestroyed() && isTrustedFrame(frame, w.webContents.mainFrame);
  ses.setDisplayMediaRequestHandler(
    displayMediaRequestHandler({
      isTrustedFrame: trusted,
      isCaptureConsented: () => s.isCaptureConsented(),
      screens: listScreens,
      chosen: () => s.chosenDisplayId(),
      onRefused: (reason) => refused(`screen capture: ${reason}`),
    }),
  );

  const lock = new SessionWindowLock(w);
  const controls = new SessionControls({
    activeSessions: () => s.activeSessions(),
    lock,
    shortcuts: globalShortcut,
    onPanic: () => void teardown('panic chord', true),
    onChordUnavailable: (err) => log(err.message),
  });
  registerBridgeIpc(ipcMain, {
    handlers: s.handlers,
    isTrustedSender: trusted,
    onRefused: (r) => refused(`bridge call ${r.method} (${r.reason})`),
    onHandled: () => controls.sync(),
  });
  s.onEvent(eventPusher(() => (w.isDestroyed() ? null : w.webContents), trusted));

  /** Ends every session locally, fail closed; the page (if alive) is told by the panic event. */
  async function teardown(why: string, panic = false): Promise<void> {
    log(`ending every session: ${why}`);
    if (panic) s.panic();
    await s.rendererGone().catch((err: unknown) => log(String(err)));
    controls.sync();
  }

  w.webContents.on('render-process-gone', (_e, details) => {
    void teardown(`the page ended (${details.reason})`).then(() => {
      if (!w.isDestroyed()) w.loadURL(APP_PAGE).catch((err: unknown) => log(`reload after a crash: ${String((err as Error)?.message ?? err)}`));
    });
  });
  let loaded = false;
  // A full navigation (reload) replaces the page that held the session: nothing of it survives.
  w.webContents.on('did-navigate', () => {
    if (loaded) void teardown('the page was reloaded');
    loaded = true;
  });
  w.once('ready-to-show', () => w.show());
  w.on('closed', () => {
    win = null;
    app.quit();
  });

  app.on('before-quit', () => lock.allowQuit());
  app.on('will-quit', (event) => {
    controls.dispose();
    globalShortcut.unregisterAll();
    if (tornDown) return;
    // Quit waits for the teardown: grants revoked and journaled before the process goes.
    event.preventDefault();
    s.close()
      .catch((err: unknown) => log(`teardown at quit: ${String((err as Error)?.message ?? err)}`))
      .finally(() => {
        tornDown = true;
        app.quit();
      });
  });

  const code = pendingJoinCode;
  pendingJoinCode = null;
  // A join link arriving during this first load replaces it (ERR_ABORTED): not a failure to start.
  await w.loadURL(code ? `${APP_PAGE}#/join/${code}` : APP_PAGE).catch((err: unknown) => log(`first load: ${String((err as Error)?.message ?? err)}`));
}

function listScreens(): Promise<ScreenSource[]> {
  return primaryFirst(desktopCapturer.getSources({ types: ['screen'], thumbnailSize: { width: 0, height: 0 } }));
}

/** The primary display's screen first: that is the screen the end user sees the banner on. */
async function primaryFirst(sources: Promise<Electron.DesktopCapturerSource[]>): Promise<ScreenSource[]> {
  const primary = String(screen.getPrimaryDisplay().id);
  const list = (await sources).map((src) => ({ id: src.id, name: src.name, display_id: src.display_id }));
  return [...list.filter((x) => x.display_id === primary), ...list.filter((x) => x.display_id !== primary)];
}
