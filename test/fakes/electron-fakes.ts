/**
 * Fakes of the Electron objects the shell's modules take through their parameters. The Electron
 * binary cannot run here (README.md, "The desktop shell"), so these stand in for ipcMain,
 * WebFrameMain, WebContents, BrowserWindow, globalShortcut and app in Node tests. Each one is
 * structural and small: it records what the code under test asked for and lets the test fire the
 * events Electron would. The real objects are exercised by the Playwright `_electron` tests where
 * the binary exists.
 */
import crypto from 'node:crypto';
import type { FrameLike } from '../../main/electron/sender-check.js';
import type { IpcMainLike } from '../../main/electron/ipc.js';
import type { GuardedContents, NavigationEvent } from '../../main/electron/navigation-guard.js';
import type { LockableWindow } from '../../main/electron/session-window-lock.js';
import type { InstanceApp } from '../../main/electron/single-instance.js';
import type { GlobalShortcuts } from '../../main/panic.js';

type Listener = (...args: any[]) => unknown;

class FakeEmitter {
  private readonly listeners = new Map<string, Listener[]>();
  on(event: string, listener: Listener): this {
    (this.listeners.get(event) ?? this.listeners.set(event, []).get(event)!).push(listener);
    return this;
  }
  fire(event: string, ...args: unknown[]): void {
    for (const l of this.listeners.get(event) ?? []) l(...args);
  }
  listenerCount(event: string): number {
    return this.listeners.get(event)?.length ?? 0;
  }
}

export function fakeFrame(url: string, o: { processId?: number; routingId?: number; parent?: FrameLike | null } = {}): FrameLike {
  return { url, processId: o.processId ?? 4, routingId: o.routingId ?? 1, parent: o.parent ?? null };
}

/** ipcMain: keeps the handlers and lets a test invoke a channel as a given frame would. */
export class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, (event: { senderFrame: FrameLike | null }, ...args: unknown[]) => Promise<unknown>>();
  handle(channel: string, listener: (event: { senderFrame: FrameLike | null }, ...args: unknown[]) => Promise<unknown>): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  invoke(channel: string, senderFrame: FrameLike | null, ...args: unknown[]): Promise<unknown> {
    const h = this.handlers.get(channel);
    if (!h) return Promise.reject(new Error(`No handler registered for '${channel}'`));
    return h({ senderFrame }, ...args);
  }
}

/** A navigation event: records whether the code cancelled it. */
export function fakeNavigationEvent(url?: string): NavigationEvent & { prevented: boolean } {
  const e = { prevented: false, url, preventDefault: () => (e.prevented = true) };
  return e;
}

/** webContents, as far as the navigation guard uses it. */
export class FakeWebContents extends FakeEmitter implements GuardedContents {
  windowOpenHandler: ((details: { url: string }) => { action: 'deny' } | { action: 'allow' }) | null = null;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' } | { action: 'allow' }): void {
    this.windowOpenHandler = handler;
  }
}

/** A BrowserWindow, as far as the session lock uses it. */
export class FakeBrowserWindow extends FakeEmitter implements LockableWindow {
  alwaysOnTop: { flag: boolean; level?: string } = { flag: false };
  allWorkspaces = false;
  closable = true;
  minimizable = true;
  minimized = false;
  visible = true;
  destroyed = false;
  setAlwaysOnTop(flag: boolean, level?: 'screen-saver'): void {
    this.alwaysOnTop = { flag, level };
  }
  setVisibleOnAllWorkspaces(visible: boolean): void {
    this.allWorkspaces = visible;
  }
  setClosable(c: boolean): void {
    this.closable = c;
  }
  setMinimizable(m: boolean): void {
    this.minimizable = m;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  restore(): void {
    this.minimized = false;
  }
  show(): void {
    this.visible = true;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  /** What the window manager does when the user clicks the close button; true if it closed. */
  userCloses(): boolean {
    const e = fakeNavigationEvent();
    this.fire('close', e);
    return !e.prevented;
  }
  userMinimises(): void {
    this.minimized = true;
    this.fire('minimize');
  }
  userHides(): void {
    this.visible = false;
    this.fire('hide');
  }
}

/** globalShortcut: one holder per accelerator, like the real one across programs. */
export class FakeGlobalShortcuts implements GlobalShortcuts {
  readonly registered = new Map<string, () => void>();
  /** Accelerators another program holds. */
  readonly takenElsewhere = new Set<string>();
  register(accelerator: string, callback: () => void): boolean {
    if (this.takenElsewhere.has(accelerator) || this.registered.has(accelerator)) return false;
    this.registered.set(accelerator, callback);
    return true;
  }
  unregister(accelerator: string): void {
    this.registered.delete(accelerator);
  }
  press(accelerator: string): void {
    this.registered.get(accelerator)?.();
  }
}

/** app, as far as single-instance and link handling use it. */
export class FakeApp extends FakeEmitter implements InstanceApp {
  lockHeldElsewhere = false;
  protocolClient: { protocol: string; path?: string; args?: string[] } | null = null;
  requestSingleInstanceLock(): boolean {
    return !this.lockHeldElsewhere;
  }
  setAsDefaultProtocolClient(protocol: string, path?: string, args?: string[]): boolean {
    this.protocolClient = { protocol, path, args };
    return true;
  }
}

/**
 * Stands where Electron's safeStorage (the OS keychain) would: a real AES-256-GCM cipher under a
 * key of its own, so a secret on disk is really unreadable without that key, and a store made with
 * another fake keychain cannot decrypt it (as after a keychain reset).
 */
export function fakeKeychainCipher(key: Buffer = crypto.randomBytes(32)): { encryptString(plain: string): Buffer; decryptString(buf: Buffer): string } {
  return {
    encryptString(plain) {
      const iv = crypto.randomBytes(12);
      const c = crypto.createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return Buffer.concat([iv, c.getAuthTag(), body]);
    },
    decryptString(buf) {
      const d = crypto.createDecipheriv('aes-256-gcm', key, buf.subarray(0, 12));
      d.setAuthTag(buf.subarray(12, 28));
      return Buffer.concat([d.update(buf.subarray(28)), d.final()]).toString('utf8');
    },
  };
}

/** Electron's Notification class: records every notice made, shown, closed and lets a test click one. */
export function fakeNotificationClass(supported = true) {
  const made: FakeNotification[] = [];
  class FakeNotification extends FakeEmitter {
    shown = false;
    closed = false;
    constructor(readonly options: { title: string; body: string; silent?: boolean }) {
      super();
      made.push(this);
    }
    static isSupported(): boolean {
      return supported;
    }
    show(): void {
      this.shown = true;
    }
    close(): void {
      this.closed = true;
    }
    click(): void {
      this.fire('click');
    }
  }
  return { Notification: FakeNotification, made };
}
