import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseInput } from './parse.js';

export type AuthKind = 'none' | 'account' | 'device' | 'webhook';

export interface RouteDef<B extends z.ZodType | undefined, P extends z.ZodType | undefined, Q extends z.ZodType | undefined> {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  tag: string;
  auth: AuthKind;
  roles?: readonly string[];
  body?: B;
  /** Documents a body the handler parses itself (the ticket webhook needs the raw bytes first). */
  docBody?: z.ZodType;
  params?: P;
  query?: Q;
  /** Status codes and what they mean, for the OpenAPI document. */
  responses: Record<number, string>;
  handler: (ctx: {
    req: FastifyRequest;
    reply: FastifyReply;
    body: B extends z.ZodType ? z.infer<B> : undefined;
    params: P extends z.ZodType ? z.infer<P> : undefined;
    query: Q extends z.ZodType ? z.infer<Q> : undefined;
  }) => Promise<unknown>;
}

export type AnyRoute = RouteDef<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>;

/** Every route is declared once: Fastify gets the handler, the OpenAPI document the description. */
export class RouteRegistry {
  readonly routes: AnyRoute[] = [];

  constructor(private readonly app: FastifyInstance) {}

  add<B extends z.ZodType | undefined, P extends z.ZodType | undefined, Q extends z.ZodType | undefined>(def: RouteDef<B, P, Q>): void {
    this.routes.push(def as unknown as AnyRoute);
    this.app.route({
      method: def.method,
      url: def.url,
      handler: async (req, reply) => {
        // Bodies are parsed as unknown through the route's schema; a GET or an undeclared body must be empty.
        const body = def.body ? parseInput(def.body, req.body, 'body') : undefined;
        const params = def.params ? parseInput(def.params, req.params, 'path') : undefined;
        const query = def.query ? parseInput(def.query, req.query, 'query') : undefined;
        const out = await def.handler({ req, reply, body, params, query } as never);
        return out;
      },
    });
  }
}

const toUrlTemplate = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');

export function openApiDocument(routes: readonly AnyRoute[], info: { version: string; serverUrl: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { target: 'openapi-3.0', unrepresentable: 'any', io: 'input' });
  for (const r of routes) {
    const p = (paths[toUrlTemplate(r.url)] ??= {});
    const parameters: unknown[] = [];
    if (r.params) {
      const js = schema(r.params) as { properties?: Record<string, unknown> };
      for (const [name, s] of Object.entries(js.properties ?? {})) parameters.push({ name, in: 'path', required: true, schema: s });
    }
    if (r.query) {
      const js = schema(r.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) parameters.push({ name, in: 'query', required: (js.required ?? []).includes(name), schema: s });
    }
    if (r.auth === 'account' || r.auth === 'device') {
      parameters.push({ name: 'DPoP', in: 'header', required: true, schema: { type: 'string' }, description: 'Proof of possession of the device key (RFC 9449 shape, EdDSA).' });
    }
    if (r.auth === 'webhook') {
      parameters.push({ name: 'X-Chaperone-Timestamp', in: 'header', required: true, schema: { type: 'string' } });
      parameters.push({ name: 'X-Chaperone-Signature', in: 'header', required: true, schema: { type: 'string' }, description: 'v1=hex(HMAC-SHA256(secret, timestamp + "." + body))' });
    }
    const documented: Record<number, string> = { ...r.responses };
    // Every route that reads input can refuse it, and every authenticated one can refuse the caller.
    if ((r.body || r.docBody || r.params || r.query) && !documented[400]) documented[400] = 'invalid input (the error says which field)';
    if (r.auth !== 'none' && !documented[401]) documented[401] = 'missing or invalid token or proof';
    const responses: Record<string, unknown> = {};
    for (const [code, description] of Object.entries(documented)) {
      responses[code] =
        Number(code) >= 400
          ? { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
          : { description, content: { 'application/json': { schema: { type: 'object' } } } };
    }
    p[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      ...(r.auth === 'account' ? { security: [{ DPoPAccessToken: [] }] } : {}),
      ...(r.roles ? { 'x-roles': r.roles } : {}),
      parameters,
      ...requestBody(r.body ?? r.docBody, schema),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Chaperone broker API',
      version: info.version,
      description: 'Approved, time-bounded, attributable remote support sessions. Errors always have the shape { "error": { "code", "message" } }. The signaling WebSocket protocol is documented in docs/signaling.md.',
    },
    servers: [{ url: info.serverUrl }],
    paths,
    components: {
      securitySchemes: {
        DPoPAccessToken: { type: 'http', scheme: 'DPoP', description: 'Authorization: DPoP <access token>, together with a DPoP proof header signed by the device key the token is bound to.' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
    },
  };
}

/** Action routes take no body or an empty object; say so instead of an `anyOf` that looks open. */
function requestBody(body: z.ZodType | undefined, schema: (s: z.ZodType) => unknown): Record<string, unknown> {
  if (!body) return {};
  if (body.safeParse(undefined).success) {
    return { requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', additionalProperties: false } } } } };
  }
  return { requestBody: { required: true, content: { 'application/json': { schema: schema(body) } } } };
}
