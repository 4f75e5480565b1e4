import fs from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import { MAX_HTTP_BODY_BYTES, MAX_SIGNALING_FRAME_BYTES } from '../common/protocol/limits.js';
import type { BrokerContext } from './context.js';
import { DomainError, type DomainErrorKind } from './domain-errors.js';
import { authenticator } from './http/auth.js';
import { registerCors } from './http/cors.js';
import { ApiError, errorBody } from './http/errors.js';
import { RouteRegistry } from './http/registry.js';
import { adminRoutes } from './routes/admin.js';
import { adminConsoleRoutes } from './routes/admin-console.js';
import { authRoutes } from './routes/auth.js';
import { firstSignInRoutes } from './routes/first-sign-in.js';
import { stepUpRoutes } from './routes/step-up.js';
import { passkeyRoutes } from './routes/passkeys.js';
import { oidcRoutes } from './routes/oidc.js';
import { extensionRoutes } from './routes/extensions.js';
import { joinRoutes } from './routes/join.js';
import { joinLinkRoutes } from './routes/join-link.js';
import { CHUNK_ROUTE, recordingRoutes } from './routes/recordings.js';
import { MAX_CHUNK_BYTES } from '../common/recording.js';
import { metaRoutes } from './routes/meta.js';
import { sessionEventRoutes } from './routes/session-events.js';
import { sessionRoutes } from './routes/sessions.js';
import { watchRoutes } from './routes/watch.js';
import { ticketRoutes } from './routes/tickets.js';
import { sourceRefusalKey } from './rate-limit.js';
import { SignalingHub, protocolRefusal } from './signaling/hub.js';

export const VERSION = '0.1.0';

/** How the domain's refusals (broker/domain-errors.ts) read over HTTP. */
const HTTP_STATUS: Record<DomainErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  unavailable: 503,
};

/**
 * Every route's path is written with these characters only, in segments that are not `.` or
 * `..`. A request path that is anything else (a percent-escape, which the router would decode, a
 * dot segment, a backslash, a `;`) is not one of our routes, whatever it would decode or
 * normalise to: it is answered 404 before routing can turn it into one.
 */
const EXACT_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+)+$/;

export function isExactPath(url: string): boolean {
  const q = url.indexOf('?');
  return EXACT_PATH.test(q < 0 ? url : url.slice(0, q));
}

/** PostgreSQL gone (connection refused or cut, server shutting down): the caller hears 503, not an internal error. */
const DB_AWAY_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);
function databaseAway(e: { code?: string; message?: string }): boolean {
  return (e.code !== undefined && DB_AWAY_CODES.has(e.code)) || /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/.test(e.message ?? '');
}

/** A URL as the log keeps it: a `ticket` query value replaced, so the log holds no credential. */
export function withoutTicket(url: string): string {
  return url.replace(/([?&]ticket=)[^&]*/g, '$1[redacted]');
}

/** Builds the HTTP app without listening (tests use it through inject or a real port). */
export async function buildApp(ctx: BrokerContext): Promise<{ app: FastifyInstance; hub: SignalingHub; registry: RouteRegistry }> {
  const app = Fastify({
    // A recording's playback ticket rides in its URL (a <video> cannot send DPoP): kept out of the log.
    logger: ctx.cfg.logLevel === 'silent' ? false : { level: ctx.cfg.logLevel, serializers: { req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: withoutTicket(req.url), remoteAddress: req.ip }) } },
    bodyLimit: MAX_HTTP_BODY_BYTES,
    // Paths are matched exactly: no trailing-slash or case folding, so /API/v1/admin/users/ is not a way in.
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true, ignoreDuplicateSlashes: false },
    // X-Forwarded-For counts only from the proxies named in broker.json (proxy-addr: the client is
    // the rightmost address that is not one of them); from anyone else it is ignored.
    trustProxy: ctx.cfg.trustedProxies.length > 0 ? ctx.cfg.trustedProxies : false,
    // Keep the one error shape even for requests the router cannot parse (bad percent-encoding).
    frameworkErrors: (err: Error & { code?: string }, _req: unknown, reply: { code(n: number): { send(b: unknown): void } }) => {
      reply.code(400).send(errorBody(err.code === 'FST_ERR_BAD_URL' ? 'bad_url' : 'bad_request', 'the request URL or headers could not be parsed'));
    },
    ...(ctx.cfg.tls ? { https: { cert: fs.readFileSync(ctx.cfg.tls.cert), key: fs.readFileSync(ctx.cfg.tls.key) } } : {}),
  } as never) as unknown as FastifyInstance;

  // JSON only: a text/plain body is refused with 415 rather than read as something else.
  app.removeContentTypeParser('text/plain');
  // Keep the raw text of JSON bodies: the ticket webhook's HMAC is over the exact bytes.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_HTTP_BODY_BYTES }, (req, body, done) => {
    (req as unknown as { rawBody: string }).rawBody = body as string;
    if ((body as string).length === 0) return done(null, undefined);
    defaultJson(req, body as string, done);
  });

  // Recording chunks are bytes, and only the chunk route takes them: anywhere else octet-stream is a 415.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_CHUNK_BYTES }, (req, body, done) => {
    if (req.routeOptions.url !== CHUNK_ROUTE) return done(Object.assign(new Error('only recording chunks are sent as application/octet-stream'), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }), undefined);
    done(null, body);
  });

  app.setErrorHandler(async (err: unknown, req, reply) => {
    if (err instanceof DomainError) {
      if (err.retryAfterS !== undefined) void reply.header('retry-after', String(err.retryAfterS));
      return reply.status(HTTP_STATUS[err.kind]).send(errorBody(err.code, err.message, err.retryAfterS));
    }
    if (err instanceof ApiError) return reply.status(err.status).send(errorBody(err.code, err.message));
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (databaseAway(e)) {
      req.log.warn({ code: e.code }, 'the database does not answer');
      return reply.status(503).send(errorBody('database_unavailable', 'the broker cannot reach its database; try again shortly'));
    }
    const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    const code =
      e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'body_too_large'
        : e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'unsupported_media_type'
          : e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH'
            ? 'invalid_body'
            : status === 400
              ? 'invalid_json'
              : status === 500
                ? 'internal'
                : 'bad_request';
    if (status === 500) req.log.error({ err }, 'unhandled error');
    if (status !== 500) {
      const route = req.routeOptions?.url ?? '';
      void ctx.audit.refused({ type: 'http.request_refused', outcome: 'denied', actor: 'anonymous', source: req.ip, meta: { code, status, route } }, sourceRefusalKey('http.request_refused', req.ip, route));
    }
    return reply.status(status).send(errorBody(code, status === 500 ? 'internal error' : (e.message ?? 'bad request')));
  });

  const notFound = (req: FastifyRequest, reply: FastifyReply) => {
    // Probes of privileged paths with odd spellings land here; keep a record of them.
    if (req.url.toLowerCase().includes('/api') || !isExactPath(req.url)) {
      // Probes come in floods: one source's are throttled together (records say how many they stand for).
      void ctx.audit.refused({ type: 'http.not_found', outcome: 'denied', actor: 'anonymous', source: req.ip, meta: { method: req.method, path: req.url.slice(0, 200) } }, sourceRefusalKey('http.not_found', req.ip));
    }
    return reply.status(404).send(errorBody('not_found', `no route ${req.method} ${req.url.slice(0, 200)}`));
  };
  // First of all hooks: the router has already decoded the path, so a spelling it matched to a
  // route is refused here, before CORS, authentication or the handler see it.
  app.addHook('onRequest', async (req, reply) => {
    if (!isExactPath(req.url)) return notFound(req, reply);
  });

  registerCors(app, ctx.cfg.corsOrigins);

  app.setNotFoundHandler(async (req, reply) => notFound(req, reply));

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', reply.getHeader('cache-control') ?? 'no-store');
    reply.header('referrer-policy', 'no-referrer');
    return payload;
  });

  // Registered before the websocket plugin's own preClose, which drops clients without a code:
  // ours get a proper 1001 "going away" and reconnect after a restart.
  let hub: SignalingHub | null = null;
  app.addHook('preClose', async () => hub?.close());
  // Open event streams would hold the close up until their ten minutes are over.
  app.addHook('preClose', async () => ctx.sessions.stateWatch.closeAll());
  await app.register(websocket, {
    options: { maxPayload: MAX_SIGNALING_FRAME_BYTES },
    // A client breaking the WebSocket protocol is the client's mistake: ws has already closed the
    // socket with the right code and the hub audits it, so one warn line without a stack. The
    // plugin's default would log it as an error with a stack trace.
    errorHandler: (error: Error & { code?: string }, socket: { terminate(): void }, request: FastifyRequest) => {
      if (protocolRefusal(error.code)) {
        request.log.warn({ code: error.code }, `signaling: a client sent a frame that breaks the protocol: ${error.message}`);
        return;
      }
      request.log.error({ err: error }, 'signaling socket failed');
      socket.terminate();
    },
  });

  const registry = new RouteRegistry(app, authenticator(ctx));
  metaRoutes(registry, ctx, VERSION);
  authRoutes(registry, ctx);
  firstSignInRoutes(registry, ctx);
  stepUpRoutes(registry, ctx);
  passkeyRoutes(registry, ctx);
  oidcRoutes(registry, ctx);
  sessionRoutes(registry, ctx);
  sessionEventRoutes(registry, ctx);
  extensionRoutes(registry, ctx);
  joinRoutes(registry, ctx);
  joinLinkRoutes(registry, ctx);
  recordingRoutes(registry, ctx);
  adminRoutes(registry, ctx);
  adminConsoleRoutes(registry, ctx);
  ticketRoutes(registry, ctx);
  watchRoutes(registry, ctx);

  const theHub = new SignalingHub(ctx);
  hub = theHub;
  app.register(async (scope) => theHub.register(scope));
  return { app, hub: theHub, registry };
}
