import WebSocket from 'ws';
import { WatchBrokerFrameSchema, type WatchBrokerFrame } from '../common/protocol/watch.js';
import type { ApiClient } from './api.js';
import type { DeviceKey } from './device.js';

type Frame = WatchBrokerFrame;

/**
 * A watcher's socket as a client makes it (docs/signaling.md "The watch socket"): a ticket from
 * POST /sessions/{id}/watch, the challenge answered with a proof of the same device key, then
 * frames, each parsed through the wire schema. Each `chunk` frame's bytes are the binary message
 * after it; they are collected in `chunks`, in the order they came.
 */
export class WatchClient {
  readonly frames: Frame[] = [];
  readonly chunks: { seq: number; live: boolean; bytes: Buffer; at: number }[] = [];
  ready: Extract<Frame, { type: 'watch.ready' }> | null = null;
  /** The broker's refusal of `auth`, when it refused. */
  refusal: Extract<Frame, { type: 'error' }> | null = null;
  closeCode: number | null = null;
  private expecting: { seq: number; bytes: number; live: boolean } | null = null;
  private waiters: (() => void)[] = [];
  heartbeat: NodeJS.Timeout | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const e = this.expecting;
        this.expecting = null;
        if (!e || e.bytes !== data.length) throw new Error(`a binary message of ${data.length} bytes without its chunk frame`);
        this.chunks.push({ seq: e.seq, live: e.live, bytes: Buffer.from(data), at: Date.now() });
      } else {
        const f = WatchBrokerFrameSchema.parse(JSON.parse(String(data)));
        if (f.type === 'chunk') this.expecting = { seq: f.seq, bytes: f.bytes, live: f.live };
        this.frames.push(f);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      if (this.heartbeat) clearInterval(this.heartbeat);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Asks for a ticket with `api` (the watcher's signed-in client) and opens the socket with it. */
  static async watch(baseUrl: string, api: ApiClient, sessionId: string, opts: { heartbeatMs?: number | null } = {}): Promise<WatchClient> {
    const t = await api.post(`/api/v1/sessions/${sessionId}/watch`, {});
    if (t.status !== 200) throw new Error(`watch ticket refused: ${t.status} ${JSON.stringify(t.body)}`);
    const c = await WatchClient.open(baseUrl, t.body.url as string);
    await c.auth(t.body.token as string, api.device);
    if (!c.ready) throw new Error(`watch refused: ${JSON.stringify(c.frames.slice(-3))} close=${c.closeCode}`);
    const every = opts.heartbeatMs === undefined ? 5000 : opts.heartbeatMs;
    if (every) c.heartbeat = setInterval(() => c.send({ type: 'heartbeat' }), every);
    return c;
  }

  static async open(baseUrl: string, path: string): Promise<WatchClient> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}`);
    const c = new WatchClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  /** Answers the challenge; resolves once `watch.ready` or an error (and the close) came. */
  async auth(token: string, device: DeviceKey): Promise<void> {
    const ch = (await this.next((f) => f.type === 'challenge')) as Extract<Frame, { type: 'challenge' }>;
    this.send({ type: 'auth', token, proof: await device.nonceProof(ch.nonce, token) });
    const f = await this.next((x) => x.type === 'watch.ready' || x.type === 'error');
    if (f.type === 'watch.ready') this.ready = f;
    if (f.type === 'error') this.refusal = f;
  }

  send(f: unknown): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(f));
  }

  /** The first frame (seen or to come) that fits, taken out of `frames`. */
  async next(pred: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closeCode !== null) throw new Error(`closed ${this.closeCode} before the frame; got ${JSON.stringify(this.frames.slice(-5))}`);
      await this.wait(until, () => `timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`);
    }
  }

  async nextOfType<T extends Frame['type']>(type: T, timeoutMs = 5000): Promise<Extract<Frame, { type: T }>> {
    return (await this.next((f) => f.type === type, timeoutMs)) as Extract<Frame, { type: T }>;
  }

  async untilChunks(n: number, timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.chunks.length < n) await this.wait(until, () => `timed out waiting for ${n} chunks; got ${this.chunks.map((c) => c.seq).join(',')}`);
  }

  async closed(timeoutMs = 5000): Promise<number> {
    const until = Date.now() + timeoutMs;
    while (this.closeCode === null) await this.wait(until, () => 'the socket did not close');
    return this.closeCode;
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws.close();
  }

  private wait(until: number, why: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const left = until - Date.now();
      if (left <= 0) return reject(new Error(why()));
      const t = setTimeout(() => reject(new Error(why())), left);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
