import { sql } from 'kysely';
import { HealthSchema, JwksSchema, MetricsTextSchema, OpenApiDocumentSchema, ReadySchema } from '../../common/protocol/responses.js';
import type { BrokerContext } from '../context.js';
import { ApiError } from '../http/errors.js';
import { openApiDocument, type RouteRegistry } from '../http/registry.js';

export function metaRoutes(r: RouteRegistry, ctx: BrokerContext, version: string): void {
  r.add({
    method: 'GET',
    url: '/healthz',
    summary: 'Liveness: the process is up',
    tag: 'operations',
    auth: 'none',
    response: HealthSchema,
    responses: { 200: 'alive' },
    handler: async () => ({ status: 'ok' }) as const,
  });
  r.add({
    method: 'GET',
    url: '/readyz',
    summary: 'Readiness: the database answers, a signing key is loaded and, in a cluster, Redis answers',
    tag: 'operations',
    auth: 'none',
    response: ReadySchema,
    responses: { 200: 'ready', 503: 'not ready' },
    handler: async () => {
      try {
        await sql`SELECT 1`.execute(ctx.storage.db);
      } catch {
        throw new ApiError(503, 'not_ready', 'the database does not answer');
      }
      if (ctx.cluster && !(await ctx.cluster.ping())) throw new ApiError(503, 'not_ready', 'Redis (the cluster\'s shared live state) does not answer');
      return { status: 'ready' as const, engine: ctx.storage.engine, key: ctx.keys.active.kid };
    },
  });
  r.add({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics',
    tag: 'operations',
    auth: 'none',
    response: MetricsTextSchema,
    responses: { 200: 'metrics in the Prometheus text format' },
    handler: async ({ reply }) => {
      reply.type('text/plain; version=0.0.4');
      return ctx.metrics.render();
    },
  });
  r.add({
    method: 'GET',
    url: '/.well-known/jwks.json',
    summary: 'The broker public keys (Ed25519). Old keys stay until the tokens they signed have expired.',
    tag: 'operations',
    auth: 'none',
    response: JwksSchema,
    responses: { 200: 'JWKS' },
    handler: async ({ reply }) => {
      reply.header('cache-control', 'max-age=60');
      return ctx.keys.jwks(ctx.now());
    },
  });
  r.add({
    method: 'GET',
    url: '/openapi.json',
    summary: 'This document',
    tag: 'operations',
    auth: 'none',
    response: OpenApiDocumentSchema,
    responses: { 200: 'OpenAPI 3 document' },
    handler: async () => openApiDocument(r.routes, { version, serverUrl: ctx.cfg.publicUrl }),
  });
}
