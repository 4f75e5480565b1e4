/**
 * What the session engine needs from its surroundings. The renderer passes the browser's own
 * objects; Node tests pass @roamhq/wrtc and the `ws` package. Nothing here imports either.
 */
export interface WebRtcImpl {
  RTCPeerConnection: unknown;
  RTCSessionDescription: unknown;
  RTCIceCandidate: unknown;
}

export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

export interface EngineClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const browserClock: EngineClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Signs the broker's nonce with the device key the session token is bound to. */
export type NonceSigner = (nonce: string, token: string) => Promise<string>;

/** Signs the teardown report (docs/signaling.md) with the device key; returns the list it signed. */
export type TeardownSigner = (sessionId: string, revoked: string[]) => Promise<{ revoked: string[]; receipt: string }>;
