import { createBridge, dispatchBridgeCall, type ChaperoneBridge } from '../common/bridge/api.js';
import type { MainServices } from '../main/services.js';

/**
 * The bridge the renderer sees (`window.chaperone`), in Node: every call goes through
 * `dispatchBridgeCall` into the real MainServices, its arguments and result parsed by the shared
 * schema exactly as the Electron IPC and the browser host do; main's events come back the same way.
 */
export function bridgeTo(services: MainServices): ChaperoneBridge {
  return createBridge(
    (method, args) => dispatchBridgeCall(services.handlers, method, args),
    (listener) => services.onEvent((event, payload) => listener(event, payload)),
  );
}
