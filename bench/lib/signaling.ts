import WebSocket from 'ws';
import type { BenchDevice } from './device.js';

/** Opens a WebSocket with compression off (none of the servers under test negotiates it anyway). */
export function openWs(url: string, timeoutMs = 15_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const t = setTimeout(() => {
      ws.terminate();
      reject(new Error(`connect to ${url} timed out`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(t);
      resolve(ws);
    });
    ws.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Waits for the first text frame on a socket, parsed as JSON. */
export function nextFrame(ws: WebSocket, timeoutMs = 15_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const onMsg = (data: Buffer) => {
      cleanup();
      try {
        resolve(JSON.parse(data.toString('utf8')));
      } catch (e) {
        reject(e as Error);
      }
    };
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
      ws.off('message', onMsg);
      ws.off('close', onClose);
    };
    ws.on('message', onMsg);
    ws.on('close', onClose);
  });
}

/**
 * A Chaperone signaling connection: challenge, auth with the session token and a proof over the
 * nonce made by the token's device key, then `ready`. Resolves with the open socket.
 */
export async function connectSignaling(baseUrl: string, token: string, device: BenchDevice): Promise<WebSocket> {
  const ws = await openWs(`${baseUrl.replace(/^http/, 'ws')}/api/v1/signaling`);
  try {
    const challenge = await nextFrame(ws);
    if (challenge?.type !== 'challenge') throw new Error(`expected challenge, got ${JSON.stringify(challenge)}`);
    ws.send(JSON.stringify({ type: 'auth', token, proof: await device.nonceProof(challenge.nonce, token) }));
    const ready = await nextFrame(ws);
    if (ready?.type !== 'ready') throw new Error(`signaling auth failed: ${JSON.stringify(ready)}`);
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
