import WebSocket from 'ws';
import type { DeviceKey } from '../../kit/device.js';

interface Early {
  frames: Buffer[];
  waiter: ((d: Buffer) => void) | null;
  listener: (d: Buffer) => void;
}

/**
 * Frames that arrive before anyone listens: a server that speaks first (the broker's challenge,
 * PeerJS's OPEN) can have its first frame delivered in the same tick as `open`.
 */
const early = new WeakMap<WebSocket, Early>();

/** Opens a WebSocket with compression off (none of the servers under test negotiates it anyway). */
export function openWs(url: string, timeoutMs = 15_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const e: Early = {
      frames: [],
      waiter: null,
      listener: (d: Buffer) => {
        if (e.waiter) {
          const w = e.waiter;
          e.waiter = null;
          w(d);
        } else e.frames.push(d);
      },
    };
    early.set(ws, e);
    ws.on('message', e.listener);
    const t = setTimeout(() => {
      ws.terminate();
      reject(new Error(`connect to ${url} timed out`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(t);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}

/** Stops buffering a socket's frames (after its handshake; later frames go to other listeners). */
export function releaseEarly(ws: WebSocket): void {
  const e = early.get(ws);
  if (!e) return;
  ws.off('message', e.listener);
  early.delete(ws);
}

/** Waits for the next text frame on a socket opened with openWs, parsed as JSON. */
export function nextFrame(ws: WebSocket, timeoutMs = 15_000): Promise<any> {
  const e = early.get(ws);
  if (!e) return Promise.reject(new Error('nextFrame needs a socket opened with openWs'));
  const parse = (d: Buffer) => JSON.parse(d.toString('utf8')) as unknown;
  const first = e.frames.shift();
  if (first) return Promise.resolve().then(() => parse(first));
  return new Promise((resolve, reject) => {
    const onClose = (code: number, reason: Buffer) => {
      cleanup();
      reject(new Error(`socket closed ${code} ${reason.toString()}`));
    };
    const t = setTimeout(() => {
      cleanup();
      reject(new Error('timed out waiting for a frame'));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(t);
      e.waiter = null;
      ws.off('close', onClose);
    };
    e.waiter = (d: Buffer) => {
      cleanup();
      try {
        resolve(parse(d));
      } catch (err) {
        reject(err as Error);
      }
    };
    ws.on('close', onClose);
  });
}

/**
 * A Chaperone signaling connection: challenge, auth with the session token and a proof over the
 * nonce made by the token's device key, then `ready`. Resolves with the open socket.
 */
export async function connectSignaling(baseUrl: string, token: string, device: DeviceKey): Promise<WebSocket> {
  const ws = await openWs(`${baseUrl.replace(/^http/, 'ws')}/api/v1/signaling`);
  try {
    const challenge = await nextFrame(ws);
    if (challenge?.type !== 'challenge') throw new Error(`expected challenge, got ${JSON.stringify(challenge)}`);
    ws.send(JSON.stringify({ type: 'auth', token, proof: await device.nonceProof(challenge.nonce, token) }));
    const ready = await nextFrame(ws);
    if (ready?.type !== 'ready') throw new Error(`signaling auth failed: ${JSON.stringify(ready)}`);
    releaseEarly(ws);
    return ws;
  } catch (e) {
    ws.terminate();
    throw e;
  }
}

/** Resolves with the time (performance.now()) the socket closed, and its close code. */
export function closedAt(ws: WebSocket, now: () => number): Promise<{ at: number; code: number }> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve({ at: now(), code: -1 });
  return new Promise((resolve) => ws.once('close', (code: number) => resolve({ at: now(), code })));
}
