import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { BridgeError, dispatchBridgeCall } from '../../common/bridge/api.js';
import { BRIDGE_PATH, MAX_RPC_BINARY_FRAME_BYTES, MAX_RPC_FRAME_BYTES, MAX_RPC_IN_FLIGHT, parseRpcBinaryCall, parseRpcCall, type RpcServerFrame } from '../../common/bridge/rpc.js';
import { MAX_CHUNK_BYTES } from '../../common/recording.js';
import { contentSecurityPolicy } from '../content-security-policy.js';
import { rendererFileFor, rendererResponseHeaders } from '../renderer-files.js';
import { MainServices, type MainServicesOptions } from '../services.js';
import { relayHttp, relaySignaling } from './broker-relay.js';

/**
 * The browser test host: runs the app's main-process services in Node and gives a plain Chromium
 * page the same bridge the Electron preload gives the app, so the whole app runs without the
 * Electron binary.
 *
 * - Listens on 127.0.0.1 only.
 * - A per-launch secret: the launch URL carries it once (`/?k=...`), the host moves it into an
 *   HttpOnly, SameSite=Strict cookie and redirects; every later request and WebSocket must carry
 *   that cookie. The Host header must be this very address (no DNS rebinding) and WebSockets
 *   must come from this origin. Anything else gets 403 and nothing more.
 * - Serves exactly the files of the built renderer Electron's app protocol serves, under the same
 *   CSP (main/renderer-files.ts, main/content-security-policy.ts), and injects the host's preload
 *   stand-in into the page.
 * - `/__chaperone/bridge`: the bridge over WebSocket, every call through `dispatchBridgeCall`.
 * - `/api/v1/...` and `/.well-known/...`: relayed to the pinned broker (broker-relay.ts), so the
 *   page talks to one origin as the Electron app's CSP would have it; signaling and a
 *   supervisor's watch socket are relayed frame for frame, close codes included.
 */
const WATCH_PATH = /^\/api\/v1\/sessions\/[A-Za-z0-9_-]{1,64}\/watch$/;

export interface BrowserHostOptions extends Omit<MainServicesOptions, 'brokerUrl'> {
  /** The real broker (http://127.0.0.1:port). */
  brokerUrl: string;
  /** The built renderer (vite build output). */
  rendererDir: string;
  port?: number;
  /**
   * The name the page reaches the host by: 127.0.0.1 (default) or localhost, for a page that
   * uses passkeys (an IP address can be no WebAuthn relying party id). Either way it listens on
   * 127.0.0.1 and takes that one Host header only.
   */
  hostname?: '127.0.0.1' | 'localhost';
  /** The launch secret (43 base64url characters); a fresh one per start without it. */
  secret?: string;
}

export interface BrowserHost {
  /** The launch URL, with the secret; open it once. */
  readonly launchUrl: string;
  readonly origin: string;
  readonly secret: string;
  readonly services: MainServices;
  close(): Promise<void>;
}

const COOKIE = 'chaperone_host';
const PRELOAD_FILE = 'host-preload.js';
// The broker is relayed on this origin, so the page connects to nothing but 'self'.
const CSP = contentSecurityPolicy();

export async function startBrowserHost(opts: BrowserHostOptions): Promise<BrowserHost> {
  const index = path.resolve(opts.rendererDir, 'index.html');
  if (!fs.existsSync(index)) throw new Error(`no built renderer at ${opts.rendererDir}: run npm run build:renderer`);
  const services = await MainServices.start(opts);
  const secret = opts.secret ?? crypto.randomBytes(32).toString('base64url');
  if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) throw new Error('the launch secret must be 43 base64url characters');
  const broker = new URL(opts.brokerUrl);
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(MAX_RPC_FRAME_BYTES, MAX_RPC_BINARY_FRAME_BYTES) });
  const sockets = new Set<WebSocket>();
  let origin = '';
  let hostHeader = '';

  const hasSecret = (req: http.IncomingMessage): boolean => {
    const m = /(?:^|;\s*)chaperone_host=([A-Za-z0-9_-]{43})(?:;|$)/.exec(req.headers.cookie ?? '');
    return m?.[1] !== undefined && safeEqual(m[1], secret);
  };
  const sameHost = (req: http.IncomingMessage): boolean => req.headers.host === hostHeader;

  server.on('request', (req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('error');
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    if (!sameHost(req)) return refuse(res);
    if (!hasSecret(req)) {
      const k = url.searchParams.get('k');
      if (req.method === 'GET' && url.pathname === '/' && k !== null && safeEqual(k, secret)) {
        res.writeHead(303, {
          'set-cookie': `${COOKIE}=${secret}; HttpOnly; SameSite=Strict; Path=/`,
          location: '/',
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
        });
        res.end();
        return;
      }
      // A person who opened the address without its secret (a bookmark of the bare address, the
      // secret typed wrong) is told how to get in; anything else gets the bare refusal.
      if (req.method === 'GET' && url.pathname === '/' && (req.headers.accept ?? '').includes('text/html')) return askForSecret(res);
      return refuse(res);
    }
    if (url.pathname.startsWith('/api/v1/') || url.pathname.startsWith('/.well-known/')) return relayHttp(req, res, url, broker, refuse);
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405);
    await serveStatic(url.pathname, res);
  }

  async function serveStatic(pathname: string, res: http.ServerResponse): Promise<void> {
    // The same files as Electron's app protocol, and nothing else (main/renderer-files.ts).
    const hit = rendererFileFor(opts.rendererDir, pathname);
    let body: Buffer | string | null = null;
    if (hit) body = await fs.promises.readFile(hit.file).catch(() => null);
    if (!hit || body === null) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    if (hit.file === index) {
      // The preload stand-in runs before the app's module, as Electron's preload would.
      body = body.toString('utf8').replace('<head>', `<head>\n    <script type="module" src="/${PRELOAD_FILE}"></script>`);
    }
    res.writeHead(200, rendererResponseHeaders(hit.type, CSP));
    res.end(body);
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', origin);
    if (!sameHost(req) || !hasSecret(req) || req.headers.origin !== origin) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (url.pathname === BRIDGE_PATH) {
      wss.handleUpgrade(req, socket, head, (ws) => serveBridge(ws));
      return;
    }
    if (url.pathname === '/api/v1/signaling') {
      wss.handleUpgrade(req, socket, head, (ws) => relaySignaling(ws, broker, sockets));
      return;
    }
    // A supervisor's watch socket (docs/signaling.md): relayed the same way; the broker's binary
    // messages are recording chunks, up to the chunk limit.
    if (WATCH_PATH.test(url.pathname)) {
      wss.handleUpgrade(req, socket, head, (ws) => relaySignaling(ws, broker, sockets, url.pathname, MAX_CHUNK_BYTES + 1024));
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  const bridges = new Set<WebSocket>();

  function serveBridge(ws: WebSocket): void {
    sockets.add(ws);
    bridges.add(ws);
    // Each bridge connection is one page; the sessions it opens are its own.
    const page = crypto.randomUUID();
    const handlers = services.handlersFor(page);
    let inFlight = 0;
    const send = (f: RpcServerFrame) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(f));
    };
    const off = services.onEvent((event, payload) => send({ event, payload }));
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      const call = isBinary ? parseRpcBinaryCall(buf) : buf.length > MAX_RPC_FRAME_BYTES ? null : parseRpcCall(buf.toString('utf8'));
      if (!call) {
        ws.close(1008, 'malformed bridge frame');
        return;
      }
      if (inFlight >= MAX_RPC_IN_FLIGHT) {
        send({ id: call.id, ok: false, error: { code: 'refused', message: 'too many calls in flight' } });
        return;
      }
      inFlight++;
      // Called synchronously in arrival order, so input events reach the gate in the order sent.
      dispatchBridgeCall(handlers, call.method, call.args).then(
        (result) => send({ id: call.id, ok: true, result }),
        (err: unknown) => {
          const code = err instanceof BridgeError ? err.code : 'failed';
          send({ id: call.id, ok: false, error: { code, message: String((err as Error)?.message ?? err).slice(0, 500) } });
        },
      ).finally(() => inFlight--);
    });
    ws.on('close', () => {
      off();
      sockets.delete(ws);
      bridges.delete(ws);
      // The page went away (closed, reloaded): the grants of its sessions go at once, whatever
      // other page (a staff page) stays connected. With the last page, everything goes.
      void services
        .pageGone(page)
        .then(() => (bridges.size === 0 ? services.rendererGone() : undefined))
        .catch(() => undefined);
    });
    ws.on('error', () => undefined);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  hostHeader = `${opts.hostname ?? '127.0.0.1'}:${port}`;
  origin = `http://${hostHeader}`;
  services.rendererBrokerUrl = origin;

  return {
    launchUrl: `${origin}/?k=${secret}`,
    origin,
    secret,
    services,
    async close() {
      for (const s of sockets) s.terminate();
      wss.close();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      await services.close();
    },
  };
}

const ASK_FOR_SECRET = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Chaperone: open the full address</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5">
<main><h1>Open Chaperone with its full address</h1>
<p>This address needs the secret that only this computer's Chaperone knows. Nothing else is shown here, so that other programs on this computer cannot use Chaperone.</p>
<ul><li>Look at the terminal where <code>npm start</code> runs: it printed an address ending in <code>/?k=</code> and a long secret. Open that once; this browser keeps it after that.</li>
<li>The secret is also in the file <code>host-secret</code> in Chaperone's data folder (by default <code>~/.chaperone/app</code>). It stays the same when Chaperone restarts.</li></ul></main></body></html>`;

function askForSecret(res: http.ServerResponse): void {
  res.writeHead(403, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'", 'referrer-policy': 'no-referrer' });
  res.end(ASK_FOR_SECRET);
}

function refuse(res: http.ServerResponse, status = 403): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  res.end(status === 403 ? 'forbidden' : 'refused');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}
