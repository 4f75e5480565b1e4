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
  if (!staffClient) {
    const c = new BrokerClient(getBridge(), brokerUrl());
    // A rotated refresh token replaces the kept one at once: the old one is spent, and presenting
    // it again would revoke the whole family (docs/api.md).
    c.onRefreshToken = (token) => void keepRefreshToken(token);
    staffClient = c;
  }
  return staffClient;
}

/** Keeps (or forgets) the analyst's refresh token in main's secret store; best effort. */
export async function keepRefreshToken(token: string | null): Promise<void> {
  try {
    if (token) await getBridge().staff.saveRefreshToken({ token });
    else await getBridge().staff.forgetRefreshToken();
  } catch {
    // Not kept: the analyst signs in again next time, nothing else changes.
  }
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
