import crypto from 'node:crypto';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { BrokerFrame } from '../common/protocol/signaling.js';
import type { DeviceKey } from './device.js';

/** A signaling connection as a client makes it: challenge, auth with token and proof, then frames. */
export class SignalingClient {
  readonly frames: BrokerFrame[] = [];
  closeCode: number | null = null;
  closeReason = '';
  /** The broker's `ready` frame, once authenticated: which session and role the token gave. */
  ready: Extract<BrokerFrame, { type: 'ready' }> | null = null;
  private waiters: { pred: (f: BrokerFrame) => boolean; resolve: (f: BrokerFrame) => void }[] = [];
  private closeWaiters: ((code: number) => void)[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as BrokerFrame;
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => {
        if (w.pred(f)) {
          w.resolve(f);
          return false;
        }
        return true;
      });
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = String(reason);
      for (const w of this.closeWaiters) w(code);
    });
  }

  static async open(baseUrl: string): Promise<SignalingClient> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/v1/signaling`);
    const c = new SignalingClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  /** Opens and authenticates; resolves with the `ready` frame, or rejects with the close code. */
  static async connect(baseUrl: string, token: string, device: DeviceKey): Promise<SignalingClient> {
    const c = await SignalingClient.open(baseUrl);
    const challenge = (await c.next((f) => f.type === 'challenge')) as Extract<BrokerFrame, { type: 'challenge' }>;
    c.sendJson({ type: 'auth', token, proof: await device.nonceProof(challenge.nonce, token) });
    const first = await Promise.race([c.next((f) => f.type === 'ready' || f.type === 'error'), c.closed().then((code) => ({ type: 'error', code: `closed ${code}`, message: '' }) as BrokerFrame)]);
    if (first.type !== 'ready') throw new Error(`signaling auth failed: ${JSON.stringify(first)} close=${c.closeCode}`);
    c.ready = first;
    return c;
  }

  sendJson(f: unknown): void {
    this.ws.send(JSON.stringify(f));
  }

  next(pred: (f: BrokerFrame) => boolean, timeoutMs = 5000): Promise<BrokerFrame> {
    const have = this.frames.find(pred);
    if (have) {
      this.frames.splice(this.frames.indexOf(have), 1);
      return Promise.resolve(have);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(t);
          this.frames.splice(this.frames.indexOf(f), 1);
          resolve(f);
        },
      });
    });
  }

  nextOfType<T extends BrokerFrame['type']>(type: T, timeoutMs = 5000): Promise<Extract<BrokerFrame, { type: T }>> {
    return this.next((f) => f.type === type, timeoutMs) as Promise<Extract<BrokerFrame, { type: T }>>;
  }

  closed(timeoutMs = 5000): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
      this.closeWaiters.push((code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
  }

  close(): void {
    this.ws.close();
  }

  /**
   * Writes several frames in one TCP write, as an attacker's client can: the broker receives them
   * together and must still handle them one at a time, in order. A string is sent as JSON text; a
   * Buffer as a text frame with exactly those bytes (for invalid UTF-8).
   */
  sendBurst(frames: (unknown | Buffer)[]): void {
    const socket = (this.ws as unknown as { _socket: Socket })._socket;
    socket.write(Buffer.concat(frames.map((f) => maskedTextFrame(Buffer.isBuffer(f) ? f : Buffer.from(JSON.stringify(f), 'utf8')))));
  }
}

/** One masked client-to-server text frame (RFC 6455 5.2), built by hand so nothing checks its bytes. */
export function maskedTextFrame(payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : len < 65536 ? Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]) : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), bigLength(len)]);
  const mask = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

function bigLength(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
