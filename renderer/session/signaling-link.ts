import { BrokerFrameSchema, type BrokerFrame } from '../../common/protocol/signaling.js';
import type { EngineClock, NonceSigner, SocketFactory, SocketLike } from './ports.js';

export type LinkEvent =
  | { kind: 'ready'; frame: Extract<BrokerFrame, { type: 'ready' }> }
  | { kind: 'frame'; frame: BrokerFrame }
  | { kind: 'lost' }
  | { kind: 'refused'; code: number; reason: string };

const OPEN = 1;
const HEARTBEAT_MS = 5000;
/** Close codes after which reconnecting is pointless: the broker said no or the session is over. */
const FINAL = new Set([4000, 4001, 4002, 4003, 4004, 4005, 1008, 1009]);

/**
 * One authenticated signaling connection that reconnects with the same token after a drop
 * (a broker restart, a network blip) and sends heartbeats so the broker knows we are here.
 */
export class SignalingLink {
  private ws: SocketLike | null = null;
  private heartbeat: unknown = null;
  private retry: unknown = null;
  private closed = false;
  private attempt = 0;

  constructor(
    private readonly url: string,
    private token: string,
    private readonly sign: NonceSigner,
    private readonly socket: SocketFactory,
    private readonly clock: EngineClock,
    private readonly onEvent: (e: LinkEvent) => void,
  ) {}

  start(): void {
    this.connect();
  }

  /** After an extension the broker hands out a new token; use it for the next connection. */
  setToken(token: string): void {
    this.token = token;
  }

  send(frame: object): boolean {
    if (!this.ws || this.ws.readyState !== OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  close(): void {
    this.closed = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= OPEN) ws.close(1000, 'client done');
  }

  private connect(): void {
    if (this.closed) return;
    const ws = this.socket(this.url);
    this.ws = ws;
    let authed = false;
    ws.onmessage = (ev) => {
      let raw: unknown;
      try {
        raw = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      const parsed = BrokerFrameSchema.safeParse(raw);
      if (!parsed.success) return;
      const f: BrokerFrame = parsed.data;
      if (f.type === 'challenge') {
        void this.sign(f.nonce, this.token).then((proof) => {
          if (this.ws === ws && ws.readyState === OPEN) ws.send(JSON.stringify({ type: 'auth', token: this.token, proof }));
        });
        return;
      }
      if (f.type === 'ready') {
        authed = true;
        this.attempt = 0;
        this.startHeartbeat();
        this.onEvent({ kind: 'ready', frame: f });
        return;
      }
      this.onEvent({ kind: 'frame', frame: f });
    };
    ws.onerror = () => undefined;
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.clearTimers();
      this.ws = null;
      if (this.closed) return;
      if (FINAL.has(ev.code)) {
        this.onEvent({ kind: 'refused', code: ev.code, reason: ev.reason });
        return;
      }
      if (authed) this.onEvent({ kind: 'lost' });
      this.attempt++;
      this.retry = this.clock.setTimeout(() => this.connect(), Math.min(2000, 100 * 2 ** Math.min(this.attempt, 5)));
    };
  }

  private startHeartbeat(): void {
    const beat = () => {
      this.send({ type: 'heartbeat' });
      this.heartbeat = this.clock.setTimeout(beat, HEARTBEAT_MS);
    };
    this.heartbeat = this.clock.setTimeout(beat, HEARTBEAT_MS);
  }

  private clearTimers(): void {
    if (this.heartbeat) this.clock.clearTimeout(this.heartbeat);
    if (this.retry) this.clock.clearTimeout(this.retry);
    this.heartbeat = null;
    this.retry = null;
  }
}
