import wrtc from '@roamhq/wrtc';
import WebSocket from 'ws';
import { SessionEngine, type EngineOptions } from '../renderer/session/engine.js';
import type { EngineClock, SocketFactory, SocketLike } from '../renderer/session/ports.js';
import type { DeviceKey } from './device.js';

export const nodeClock: EngineClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export const wsFactory: SocketFactory = (url) => new WebSocket(url) as unknown as SocketLike;

/** Loopback only: @roamhq/wrtc also offers fd00::/192.0.2.x host candidates that go nowhere here. */
export const loopbackOnly = (candidate: string): boolean => / 127\.0\.0\.1 /.test(candidate);

/** A synthetic screen: a video track fed with solid frames of a colour the test can change. */
export class SyntheticScreen {
  readonly source = new wrtc.nonstandard.RTCVideoSource();
  readonly track = this.source.createTrack();
  readonly stream = new wrtc.MediaStream([this.track]);
  private timer: NodeJS.Timeout;
  private rgba: Uint8Array;

  constructor(
    readonly width = 320,
    readonly height = 180,
    color: [number, number, number] = [255, 0, 0],
  ) {
    this.rgba = new Uint8Array(width * height * 4);
    this.fill(color);
    this.timer = setInterval(() => this.push(), 33);
  }

  fill([r, g, b]: [number, number, number]): void {
    for (let i = 0; i < this.rgba.length; i += 4) {
      this.rgba[i] = r;
      this.rgba[i + 1] = g;
      this.rgba[i + 2] = b;
      this.rgba[i + 3] = 255;
    }
  }

  private push(): void {
    const i420 = new Uint8Array(this.width * this.height * 1.5);
    wrtc.nonstandard.rgbaToI420({ width: this.width, height: this.height, data: this.rgba }, { width: this.width, height: this.height, data: i420 });
    this.source.onFrame({ width: this.width, height: this.height, data: i420 });
  }

  stop(): void {
    clearInterval(this.timer);
    this.track.stop();
  }
}

/** Waits for the first decoded frame of a received stream. */
export function firstFrame(stream: MediaStream, timeoutMs = 10_000): Promise<{ width: number; height: number }> {
  const track = stream.getVideoTracks()[0];
  if (!track) return Promise.reject(new Error('no video track'));
  const sink = new wrtc.nonstandard.RTCVideoSink(track);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sink.stop();
      reject(new Error('no video frame arrived'));
    }, timeoutMs);
    sink.onframe = ({ frame }: { frame: { width: number; height: number } }) => {
      clearTimeout(t);
      sink.stop();
      resolve({ width: frame.width, height: frame.height });
    };
  });
}

export function nodeEngine(device: DeviceKey, opts: Omit<EngineOptions, 'candidateFilter'> & { loopback?: boolean }): SessionEngine {
  return new SessionEngine(
    { candidateFilter: opts.loopback === false ? undefined : loopbackOnly, ...opts },
    {
      wrtc: wrtc as never,
      socket: wsFactory,
      clock: nodeClock,
      sign: (nonce, token) => device.nonceProof(nonce, token),
      signTeardown: async (sessionId, revoked) => ({ revoked, receipt: await device.teardownReceipt(sessionId, revoked) }),
    },
  );
}
