import type http from 'node:http';
import WebSocket from 'ws';
import { MAX_CHUNK_BYTES } from '../../common/recording.js';

/**
 * The browser host's relay to the pinned broker: the page talks to one origin, as the Electron
 * app's CSP would have it, and the broker still sees every DPoP proof and decides everything itself.
 */

const MAX_PROXY_BODY = 64 * 1024;
/** The one route with a bigger body: a recording chunk, as large as the broker takes. */
const CHUNK_PATH = /^\/api\/v1\/sessions\/[0-9a-f-]{36}\/recording\/chunks\/\d{1,6}$/;

/**
 * One HTTP request of the page, relayed to the pinned broker: a bounded body and the few headers
 * the API reads (authorization, DPoP, content type, accept, a chunk's declared length and hash, a
 * recording's byte range), no redirects followed.
 */
export async function relayHttp(req: http.IncomingMessage, res: http.ServerResponse, url: URL, broker: URL, refuse: (res: http.ServerResponse, status: number) => void): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  const limit = req.method === 'POST' && CHUNK_PATH.test(url.pathname) ? MAX_CHUNK_BYTES : MAX_PROXY_BODY;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) return refuse(res, 413);
    chunks.push(c);
  }
  const headers: Record<string, string> = {};
  for (const h of ['authorization', 'dpop', 'content-type', 'accept', 'x-chaperone-bytes', 'x-chaperone-sha256', 'range']) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  // The page going away ends the broker's side too (an event stream would otherwise stay open).
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const upstream = await fetch(new URL(url.pathname + url.search, broker), {
    method: req.method,
    headers,
    body: chunks.length > 0 && req.method !== 'GET' && req.method !== 'HEAD' ? Buffer.concat(chunks) : undefined,
    redirect: 'manual',
    signal: gone.signal,
  });
  const type = upstream.headers.get('content-type') ?? 'application/octet-stream';
  const out: Record<string, string> = { 'content-type': type, 'cache-control': 'no-store' };
  if (type.startsWith('text/event-stream') && upstream.body) {
    // Server-sent events are relayed as they come: buffered to the end, the page would hear of
    // its session going live only when the stream closed (and act on its once-a-second poll).
    res.writeHead(upstream.status, out);
    try {
      for await (const c of upstream.body as unknown as AsyncIterable<Uint8Array>) res.write(c);
    } catch {
      // The page left or the broker closed: either way the stream is over.
    }
    res.end();
    return;
  }
  const body = Buffer.from(await upstream.arrayBuffer());
  // The recording player seeks with byte ranges: the video element needs to see the broker's answer to them.
  for (const h of ['content-range', 'accept-ranges']) {
    const v = upstream.headers.get(h);
    if (v !== null) out[h] = v;
  }
  res.writeHead(upstream.status, out);
  res.end(body);
}

/**
 * The page's signaling socket, relayed frame for frame to the broker's, close codes included;
 * frames sent before the broker's side opens wait for it. `sockets` tracks the page's side so the
 * host can end it at close.
 */
export function relaySignaling(client: WebSocket, broker: URL, sockets: Set<WebSocket>, path = '/api/v1/signaling', maxFromBroker = 64 * 1024 + 1024): void {
  sockets.add(client);
  const up = new WebSocket(`${broker.protocol === 'https:' ? 'wss' : 'ws'}://${broker.host}${path}`, { maxPayload: maxFromBroker });
  const early: string[] = [];
  up.on('open', () => {
    for (const f of early.splice(0)) up.send(f);
  });
  up.on('message', (data, isBinary) => {
    if (client.readyState === WebSocket.OPEN) client.send(isBinary ? data : data.toString('utf8'));
  });
  client.on('message', (data, isBinary) => {
    // Relayed as is (a binary frame too): the broker is the one that refuses and audits.
    const f = isBinary ? data : data.toString('utf8');
    if (up.readyState === WebSocket.OPEN) up.send(f);
    else if (up.readyState === WebSocket.CONNECTING && typeof f === 'string') early.push(f);
  });
  up.on('close', (code, reason) => {
    if (client.readyState <= WebSocket.OPEN) client.close(sendableCode(code), reason.toString('utf8').slice(0, 120));
  });
  client.on('close', (code) => {
    sockets.delete(client);
    if (up.readyState <= WebSocket.OPEN) up.close(sendableCode(code));
  });
  up.on('error', () => {
    if (client.readyState <= WebSocket.OPEN) client.close(1011, 'broker unreachable');
  });
  client.on('error', () => undefined);
}

/** 1005 and 1006 describe a close; they cannot be sent in one. */
function sendableCode(code: number): number {
  return code === 1000 || (code >= 3000 && code <= 4999) || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1011) ? code : 1001;
}
