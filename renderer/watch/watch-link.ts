import { WatchBrokerFrameSchema, type WatchBrokerFrame } from '../../common/protocol/watch.js';
import { missingCase } from '../../common/missing-case.js';
import { MAX_CHUNK_BYTES } from '../../common/recording.js';
import type { EngineClock, NonceSigner } from '../session/ports.js';

/**
 * The watcher's socket (docs/signaling.md, "The watch socket"): answer the challenge with the
 * watch ticket and a proof from the device key, then read JSON frames and, after each `chunk`
 * frame, exactly one binary message of that many bytes. Every text frame is parsed through its
 * schema; a binary message that was not announced, or of another length, ends the watch (the
 * picture could not be trusted to be in order any more). No reconnect: a ticket opens one socket,
 * and a watcher who dropped asks for a new one (joining again is a new, audited join).
 */

export interface WatchSocket {
  readonly readyState: number;
  binaryType: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WatchEvent =
  | { kind: 'frame'; frame: Exclude<WatchBrokerFrame, { type: 'challenge' | 'chunk' }> }
  | { kind: 'chunk'; seq: number; bytes: Uint8Array; live: boolean }
  | { kind: 'closed'; code: number; reason: string };

const OPEN = 1;
const HEARTBEAT_MS = 5000;

export class WatchLink {
  private ws: WatchSocket | null = null;
  private heartbeat: unknown = null;
  /** The chunk frame whose bytes come next. */
  private announced: { seq: number; bytes: number; live: boolean } | null = null;
  private done = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly sign: NonceSigner,
    private readonly socket: (url: string) => WatchSocket,
    private readonly clock: EngineClock,
    private readonly onEvent: (e: WatchEvent) => void,
  ) {}

  start(): void {
    const ws = this.socket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onerror = () => undefined;
    ws.onclose = (ev) => this.finish(ev.code, ev.reason);
  }

  /** Leaving the session: the broker records the leave when the socket closes. */
  close(): void {
    const ws = this.ws;
    this.finish(1000, 'watcher left');
    if (ws && ws.readyState <= OPEN) ws.close(1000, 'watcher left');
  }

  private finish(code: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    if (this.heartbeat) this.clock.clearTimeout(this.heartbeat);
    this.heartbeat = null;
    this.ws = null;
    this.onEvent({ kind: 'closed', code, reason });
  }

  private fail(why: string): void {
    const ws = this.ws;
    this.finish(4002, why);
    ws?.close(4002, why.slice(0, 100));
  }

  private onMessage(data: unknown): void {
    if (this.done) return;
    if (data instanceof ArrayBuffer) {
      const a = this.announced;
      this.announced = null;
      if (!a || data.byteLength !== a.bytes) return this.fail('a recording chunk came that was not announced, or of another length');
      this.onEvent({ kind: 'chunk', seq: a.seq, bytes: new Uint8Array(data), live: a.live });
      return;
    }
    if (typeof data !== 'string' || data.length > 64 * 1024) return this.fail('the broker sent a frame this page cannot read');
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      return this.fail('the broker sent a frame this page cannot read');
    }
    const parsed = WatchBrokerFrameSchema.safeParse(raw);
    if (!parsed.success) return; // A frame of a newer broker: ignored, as on signaling.
    const f = parsed.data;
    if (this.announced) return this.fail('a frame came where a recording chunk was announced');
    switch (f.type) {
      case 'challenge':
        void this.sign(f.nonce, this.token).then((proof) => {
          if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify({ type: 'auth', token: this.token, proof }));
        });
        return;
      case 'chunk':
        if (f.bytes > MAX_CHUNK_BYTES) return this.fail('a recording chunk over the size limit was announced');
        this.announced = { seq: f.seq, bytes: f.bytes, live: f.live };
        return;
      case 'watch.ready':
        this.startHeartbeat();
        this.onEvent({ kind: 'frame', frame: f });
        return;
      case 'presence':
      case 'control.state':
      case 'grants':
      case 'expiry':
      case 'session.ended':
      case 'error':
        this.onEvent({ kind: 'frame', frame: f });
        return;
      default:
        return missingCase(f);
    }
  }

  private startHeartbeat(): void {
    const beat = () => {
      if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify({ type: 'heartbeat' }));
      this.heartbeat = this.clock.setTimeout(beat, HEARTBEAT_MS);
    };
    this.heartbeat = this.clock.setTimeout(beat, HEARTBEAT_MS);
  }
}
