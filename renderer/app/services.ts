import { BRIDGE_GLOBAL, type ChaperoneBridge } from '../../common/bridge/api.js';
import { BrokerClient } from './broker-client.js';
import { useAppStore } from './store.js';

/**
 * Where the screens get the bridge (Electron's preload or the browser host's stand-in put it on
 * `window.chaperone`) and the broker clients. Staff and end user each have their own client:
 * their tokens never mix.
 */
let bridge: ChaperoneBridge | null = null;
let staffClient: BrokerClient | null = null;
let endUserClient: BrokerClient | null = null;

export function getBridge(): ChaperoneBridge {
  if (bridge) return bridge;
  const b = (globalThis as Record<string, unknown>)[BRIDGE_GLOBAL] as ChaperoneBridge | undefined;
  if (!b) throw new Error('the app was opened without its main process (no preload bridge)');
  bridge = b;
  return b;
}

/** Reads the machine policy once (broker URL, control prompt timeout, ...). */
export async function loadPolicy(): Promise<void> {
  const p = await getBridge().policy.get();
  useAppStore.getState().setPolicy(p);
}

function brokerUrl(): string {
  const p = useAppStore.getState().policy;
  if (!p) throw new Error('policy not loaded');
  return p.brokerUrl.replace(/\/+$/, '');
}

export function staffBroker(): BrokerClient {
  staffClient ??= new BrokerClient(getBridge(), brokerUrl());
  return staffClient;
}

export function endUserBroker(): BrokerClient {
  endUserClient ??= new BrokerClient(getBridge(), brokerUrl());
  return endUserClient;
}

/** For tests: swap in a bridge (and forget clients made with the old one). */
export function setBridgeForTests(b: ChaperoneBridge | null): void {
  bridge = b;
  staffClient = null;
  endUserClient = null;
}

export function forgetEndUserClient(): void {
  endUserClient = null;
}
