import { BRIDGE_METHODS, BridgeError, IPC_EVENT_CHANNEL, dispatchBridgeCall, ipcChannel, type BridgeEvent, type BridgeEventPayload, type BridgeHandlers, type BridgeMethod } from '../../common/bridge/api.js';
import type { FrameLike } from './sender-check.js';

/** The slice of ipcMain the bridge registers on (structural, so tests pass a fake). */
export interface IpcMainLike {
  handle(channel: string, listener: (event: { senderFrame: FrameLike | null }, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

export interface BridgeIpcOptions {
  handlers: BridgeHandlers;
  /** The sender check: the app window's top frame on the app page, nothing else. */
  isTrustedSender(frame: FrameLike | null): boolean;
  onRefused(r: { method: BridgeMethod; reason: 'sender' | 'invalid_args' }): void;
  /** After every call that reached a handler (the shell then re-reads the session state). */
  onHandled?(method: BridgeMethod): void;
}

export interface BridgeIpc {
  /** Calls refused before reaching a handler (wrong sender or arguments the schema refused). */
  readonly refused: number;
  dispose(): void;
}

/**
 * One `ipcMain.handle` per bridge method, on the channel the preload invokes. Each call is checked
 * against its sender first (anything but the app's top frame is refused and counted), then goes
 * through `dispatchBridgeCall`, which parses the arguments as unknown through the method's schema
 * and the handler's result before it returns: the same path the browser host serves.
 */
export function registerBridgeIpc(ipc: IpcMainLike, o: BridgeIpcOptions): BridgeIpc {
  let refused = 0;
  const methods = Object.keys(BRIDGE_METHODS) as BridgeMethod[];
  for (const method of methods) {
    ipc.handle(ipcChannel(method), async (event, ...args) => {
      if (!o.isTrustedSender(event?.senderFrame ?? null)) {
        refused++;
        o.onRefused({ method, reason: 'sender' });
        throw new BridgeError('refused', `${method}: refused (not the app page)`);
      }
      try {
        return await dispatchBridgeCall(o.handlers, method, args);
      } catch (err) {
        if (err instanceof BridgeError && err.code === 'invalid_args') {
          refused++;
          o.onRefused({ method, reason: 'invalid_args' });
        }
        throw err;
      } finally {
        o.onHandled?.(method);
      }
    });
  }
  return {
    get refused() {
      return refused;
    },
    dispose() {
      for (const m of methods) ipc.removeHandler(ipcChannel(m));
    },
  };
}

/** The slice of WebContents events are pushed through. */
export interface EventTarget {
  isDestroyed(): boolean;
  send(channel: string, message: unknown): void;
  readonly mainFrame: FrameLike;
}

/**
 * Pushes main's events (grant revoked, panic, chat) to the app window only, and only while its top
 * frame shows the app page: a window that somehow left it gets nothing.
 */
export function eventPusher(target: () => EventTarget | null, isTrustedFrame: (f: FrameLike | null) => boolean) {
  return <E extends BridgeEvent>(event: E, payload: BridgeEventPayload<E>): void => {
    const t = target();
    if (!t || t.isDestroyed() || !isTrustedFrame(t.mainFrame)) return;
    t.send(IPC_EVENT_CHANNEL, { event, payload });
  };
}
