import type { FastifyInstance } from 'fastify';

/**
 * The desktop app's page has an origin of its own (`chaperone-app://ui`, see main/electron) and
 * calls the pinned broker directly, so the broker answers CORS for that origin, and only on the
 * API. Nothing here is an access decision: every API call still needs a device-key proof and
 * (for staff) a token bound to that key, which no other page can make. No credentials mode:
 * the broker uses no cookies. A preflight from any other origin gets no CORS headers and fails.
 */
export const DESKTOP_APP_ORIGIN = 'chaperone-app://ui';

export function registerCors(app: FastifyInstance, origins: readonly string[]): void {
  const allowed = new Set(origins);
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !allowed.has(origin) || !req.url.startsWith('/api/v1/')) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('vary', 'Origin');
    reply.header('access-control-expose-headers', 'dpop-nonce, www-authenticate, retry-after');
    if (req.method === 'OPTIONS' && typeof req.headers['access-control-request-method'] === 'string') {
      reply.header('access-control-allow-methods', 'GET, POST');
      reply.header('access-control-allow-headers', 'authorization, content-type, dpop');
      reply.header('access-control-max-age', '600');
      return reply.code(204).send();
    }
  });
}
