import type { EngineClock } from './ports.js';

/**
 * A lost path is tried again before the session is given up: when ICE has stayed disconnected for
 * a moment, or failed, the offerer (the end user's side, simple-peer's initiator) restarts ICE
 * over the existing signaling: new credentials and candidates, a new offer and answer, the same
 * peer connection, tracks and data channels, and no new consent. It tries again every few seconds
 * (a relay that was down may be back), until ICE is connected again or the engine's grace runs
 * out and the session ends as peer_lost.
 */

/** Disconnected this long (a brief loss often heals by itself) before the first restart. */
export const ICE_RESTART_AFTER_MS = 2000;
/** A restart that has not brought ICE back by then is tried again. */
export const ICE_RESTART_RETRY_MS = 3000;

interface RestartablePeer {
  destroyed: boolean;
  offerOptions: RTCOfferOptions;
  negotiate(): void;
}

export class IceRestarter {
  private timer: unknown = null;
  private fallbackFlag = false;
  /** Restarts tried on this connection. */
  restarts = 0;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly peer: RestartablePeer,
    private readonly clock: EngineClock,
    private readonly offerer: boolean,
  ) {}

  /** Every ICE connection state the peer connection reports. */
  onIceState(state: string): void {
    if (state === 'connected' || state === 'completed') return this.cancel();
    // Only one side makes offers; the other answers the offerer's restart.
    if (!this.offerer || this.peer.destroyed) return;
    if (state === 'failed') {
      this.cancel();
      this.restart();
    } else if (state === 'disconnected' && this.timer === null) {
      this.timer = this.clock.setTimeout(() => this.restart(), ICE_RESTART_AFTER_MS);
    }
  }

  private restart(): void {
    this.timer = null;
    if (this.peer.destroyed || this.pc.signalingState === 'closed') return;
    const s = this.pc.iceConnectionState;
    if (s === 'connected' || s === 'completed') return;
    this.restarts++;
    if (typeof this.pc.restartIce === 'function') {
      this.pc.restartIce();
    } else {
      // Stacks without restartIce (older libwebrtc builds) take the offer option instead.
      this.peer.offerOptions = { ...this.peer.offerOptions, iceRestart: true };
      this.fallbackFlag = true;
    }
    try {
      this.peer.negotiate();
    } catch {
      return;
    }
    this.timer = this.clock.setTimeout(() => this.restart(), ICE_RESTART_RETRY_MS);
  }

  private cancel(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    if (this.fallbackFlag) {
      // Later offers (a renegotiation for a new track) keep the path that works.
      const { iceRestart: _drop, ...rest } = this.peer.offerOptions as RTCOfferOptions & { iceRestart?: boolean };
      this.peer.offerOptions = rest;
      this.fallbackFlag = false;
    }
  }
}
