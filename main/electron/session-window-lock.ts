import { SESSION_BANNER_MODE } from './window-options.js';

/** The slice of BrowserWindow the lock drives (structural, so tests pass a fake). */
export interface LockableWindow {
  setAlwaysOnTop(flag: boolean, level?: 'screen-saver'): void;
  setVisibleOnAllWorkspaces(visible: boolean, options?: { visibleOnFullScreen?: boolean }): void;
  setClosable(closable: boolean): void;
  setMinimizable(minimizable: boolean): void;
  isMinimized(): boolean;
  restore(): void;
  show(): void;
  isDestroyed(): boolean;
  on(event: 'close', listener: (event: { preventDefault(): void }) => void): unknown;
  on(event: 'minimize' | 'hide', listener: () => void): unknown;
}

/**
 * Keeps the banner on screen while a session runs. The options (SESSION_BANNER_MODE) cover what
 * the window manager honours; the events cover the rest: a close is cancelled, a minimise or hide
 * is undone. The only ways out are Stop (the session ends, `setRunning(false)`) and quitting the
 * app, which tears the session down before the window goes (`allowQuit`).
 */
export class SessionWindowLock {
  private running = false;
  private quitting = false;
  /** Attempts to make the banner go away during a session, for the log. */
  blocked = 0;

  constructor(private readonly win: LockableWindow) {
    win.on('close', (event) => {
      if (this.running && !this.quitting) {
        event.preventDefault();
        this.blocked++;
      }
    });
    win.on('minimize', () => {
      if (!this.running) return;
      this.blocked++;
      win.restore();
    });
    win.on('hide', () => {
      if (!this.running) return;
      this.blocked++;
      win.show();
    });
  }

  get isRunning(): boolean {
    return this.running;
  }

  setRunning(running: boolean): void {
    if (running === this.running || this.win.isDestroyed()) {
      this.running = running;
      return;
    }
    this.running = running;
    const m = SESSION_BANNER_MODE;
    if (running) {
      if (this.win.isMinimized()) this.win.restore();
      this.win.show();
      this.win.setAlwaysOnTop(true, m.alwaysOnTopLevel);
      this.win.setVisibleOnAllWorkspaces(true, { visibleOnFullScreen: m.visibleOnFullScreen });
      this.win.setClosable(m.closable);
      this.win.setMinimizable(m.minimizable);
    } else {
      this.win.setAlwaysOnTop(false);
      this.win.setVisibleOnAllWorkspaces(false);
      this.win.setClosable(true);
      this.win.setMinimizable(true);
    }
  }

  /** The app is quitting: its teardown ends the session, so the window may close. */
  allowQuit(): void {
    this.quitting = true;
  }
}
