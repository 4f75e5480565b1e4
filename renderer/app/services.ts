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

const TAB_KEY = 'chaperone.staff.refresh';

/**
 * Keeps (or forgets) the analyst's refresh token in main's secret store; best effort. Where main
 * cannot keep it (the browser host has no keychain), this tab keeps it for itself in
 * sessionStorage, so a reload does not sign the person out, while another tab or a restarted
 * browser still asks to sign in. The token is worth nothing without main's device key: the broker
 * takes a refresh only with a proof of the key it was issued to (docs/api.md).
 */
export async function keepRefreshToken(token: string | null): Promise<void> {
  try {
    if (token) {
      const r = await getBridge().staff.saveRefreshToken({ token });
      tabStore(r.stored ? null : token);
    } else {
      tabStore(null);
      await getBridge().staff.forgetRefreshToken();
    }
  } catch {
    // Not kept: the analyst signs in again next time, nothing else changes.
  }
}

/** The refresh token kept for this tab (see keepRefreshToken), if any. */
export function tabRefreshToken(): string | null {
  try {
    return globalThis.sessionStorage?.getItem(TAB_KEY) ?? null;
  } catch {
    return null;
  }
}

function tabStore(token: string | null): void {
  try {
    if (token) globalThis.sessionStorage?.setItem(TAB_KEY, token);
    else globalThis.sessionStorage?.removeItem(TAB_KEY);
  } catch {
    // No storage here: a reload asks to sign in again.
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
