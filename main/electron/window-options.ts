import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron';

/**
 * Every window's renderer: sandboxed, isolated from the preload, no Node, no <webview>, no mixed
 * content, no experimental or extra Blink features, no dropping a file to navigate the window.
 * Frozen so nothing can loosen it later; each window gets a copy with its preload added.
 */
export const SECURE_WEB_PREFERENCES: Readonly<WebPreferences> = Object.freeze({
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
  plugins: false,
  safeDialogs: true,
  spellcheck: false,
  enableWebSQL: false,
  autoplayPolicy: 'user-gesture-required',
  // A middle click would otherwise try to open a new window (denied anyway by the navigation guard).
  disableBlinkFeatures: 'Auxclick',
});

export interface MainWindowInputs {
  /** The bundled preload (dist/app/preload.cjs). */
  preload: string;
  /** Developer tools only in a development run, never in a packaged app. */
  devTools: boolean;
}

/** The one window of the app: the end user's screens and, while a session runs, its banner. */
export function mainWindowOptions(i: MainWindowInputs): BrowserWindowConstructorOptions {
  return {
    width: 960,
    height: 720,
    minWidth: 420,
    minHeight: 320,
    title: 'Chaperone remote support',
    show: false,
    backgroundColor: '#ffffff',
    autoHideMenuBar: true,
    // The page streams the screen and answers heartbeats: an occluded window must not be throttled.
    webPreferences: { ...SECURE_WEB_PREFERENCES, preload: i.preload, devTools: i.devTools, backgroundThrottling: false },
  };
}

/**
 * What the window becomes while a session runs: it carries the banner with the countdown and the
 * Stop button, so it stays above every other window, on every workspace, and cannot be closed,
 * minimised or hidden (session-window-lock.ts enforces the events the options cannot).
 * `screen-saver` is the highest level that still lets system dialogs (UAC, password prompts) show.
 */
export const SESSION_BANNER_MODE = Object.freeze({
  alwaysOnTop: true,
  alwaysOnTopLevel: 'screen-saver' as const,
  visibleOnAllWorkspaces: true,
  visibleOnFullScreen: true,
  closable: false,
  minimizable: false,
});
