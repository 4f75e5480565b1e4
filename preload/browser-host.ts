import { BRIDGE_GLOBAL, createBridge, type ChaperoneBridge } from '../common/bridge/api.js';
import { BRIDGE_PATH, RpcClient, type RpcSocket } from '../common/bridge/rpc.js';

/**
 * The preload's stand-in when the app runs in plain Chromium against the browser test host
 * (main/browser-host/): the same bridge, built from the same table, carried over one WebSocket to
 * the host instead of Electron IPC. The host serves this script first, before the app; the socket
 * is same-origin and carries the host's per-launch secret in its cookie.
 */
export function socketBridge(socket: RpcSocket): ChaperoneBridge {
  const rpc = new RpcClient(socket);
  return createBridge(
    (method, args) => rpc.invoke(method, args),
    (fn) => rpc.subscribe(fn),
  );
}

const g = globalThis as { location?: { origin: string }; WebSocket?: new (url: string) => RpcSocket } & Record<string, unknown>;
if (g.location && g.WebSocket && g[BRIDGE_GLOBAL] === undefined) {
  const ws = new g.WebSocket(`${g.location.origin.replace(/^http/, 'ws')}${BRIDGE_PATH}`);
  Object.defineProperty(globalThis, BRIDGE_GLOBAL, { value: socketBridge(ws), writable: false, configurable: false, enumerable: false });
}
