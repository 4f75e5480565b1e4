import { BRIDGE_GLOBAL, IPC_EVENT_CHANNEL, createBridge, ipcChannel, type ChaperoneBridge } from '../common/bridge/api.js';

/**
 * The Electron preload: exposes the one bridge (common/bridge/api.ts) as `window.chaperone` through
 * contextBridge, carried over `ipcRenderer.invoke` per method. Never raw ipcRenderer: the page gets
 * plain functions whose arguments are checked here and again in main.
 *
 * Only the slices of Electron it uses are typed here (structurally, so Electron's own objects fit
 * them), which keeps this file free of the electron package: it typechecks and is tested without
 * the binary. `preload/electron.ts` is the entry Electron loads: it passes the real electron module.
 */
export interface PreloadIpc {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

export interface PreloadContextBridge {
  exposeInMainWorld(apiKey: string, api: unknown): void;
}

/** The bridge over Electron IPC. Exported for tests; the page sees it only through contextBridge. */
export function ipcBridge(ipc: PreloadIpc): ChaperoneBridge {
  return createBridge(
    (method, args) => ipc.invoke(ipcChannel(method), ...args),
    (listener) => {
      const h = (_e: unknown, msg: unknown) => {
        if (typeof msg === 'object' && msg !== null) {
          const m = msg as { event?: unknown; payload?: unknown };
          if (typeof m.event === 'string') listener(m.event, m.payload);
        }
      };
      ipc.on(IPC_EVENT_CHANNEL, h);
      return () => ipc.removeListener(IPC_EVENT_CHANNEL, h);
    },
  );
}

export function installPreload(electron: { contextBridge: PreloadContextBridge; ipcRenderer: PreloadIpc }): void {
  electron.contextBridge.exposeInMainWorld(BRIDGE_GLOBAL, ipcBridge(electron.ipcRenderer));
}
