import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The floor for signaling relay: a bare `ws` server that pairs clients by `?pair=ID` and forwards
 * every text frame verbatim to the other member of the pair. No auth, no parsing, no validation.
 */
export async function startPlainWsRelay(o: { host?: string; port?: number } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: o.host ?? '127.0.0.1', port: o.port ?? 0, perMessageDeflate: false, maxPayload: 64 * 1024 });
  const pairs = new Map<string, WebSocket[]>();
  wss.on('connection', (ws, req) => {
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('pair');
    if (!id) {
      ws.close(1008, 'pair required');
      return;
    }
    const members = pairs.get(id) ?? [];
    if (members.length >= 2) {
      ws.close(1008, 'pair full');
      return;
    }
    members.push(ws);
    pairs.set(id, members);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const peer = members[0] === ws ? members[1] : members[0];
      if (peer && peer.readyState === peer.OPEN) peer.send(data, { binary: false });
    });
    ws.on('close', () => {
      const i = members.indexOf(ws);
      if (i >= 0) members.splice(i, 1);
      if (members.length === 0) pairs.delete(id);
    });
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
