import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Role } from '../../common/roles.js';
import type { SignedInAccount } from '../auth/account.js';
import type { ProofResult } from '../auth/dpop.js';
import { missingCase } from '../../common/missing-case.js';
import { parseInput } from './parse.js';

/** `playback`: a playback ticket in the URL's query, for a <video> element that cannot send DPoP (broker/sessions/recording-playback.ts). */
export type AuthKind = 'none' | 'account' | 'device' | 'webhook' | 'session' | 'playback';

/** A party's session token with a proof of the device key it is bound to (the recording uploads). */
export interface SessionCaller {
  sid: string;
  role: 'analyst' | 'end_user';
  jti: string;
  jkt: string;
}

/** Who called, as the registry established it from the route's `auth` before the handler runs. */
export type CallerOf<A extends AuthKind> = A extends 'account'
  ? { account: SignedInAccount; device: ProofResult }
  : A extends 'device'
    ? { device: ProofResult }
    : A extends 'webhook'
      ? { webhook: { signature: string } }
      : A extends 'session'
        ? { session: SessionCaller }
        : A extends 'playback'
          ? { playback: { sid: string; viewer: string } }
          : Record<never, never>;

/**
 * The checks behind each `auth` kind (broker/http/auth.ts). Each refuses with 401 (or 403 for a
 * missing role) and audits the refusal; none of them is called by a handler.
 */
export interface Authenticator {
  account(req: FastifyRequest, roles: readonly Role[] | undefined): Promise<{ account: SignedInAccount; device: ProofResult }>;
  device(req: FastifyRequest): Promise<ProofResult>;
  webhook(req: FastifyRequest): Promise<{ signature: string }>;
  /** Signature, expiry and key binding only: whether the token still counts is the domain's to say (and audit). */
  session(req: FastifyRequest): Promise<SessionCaller>;
  /** A playback ticket (`?ticket=`) for the session in the path: the broker's signature, its type, not expired. */
  playback(req: FastifyRequest): Promise<{ sid: string; viewer: string }>;
}

export interface RouteDef<
  B extends z.ZodType | undefined,
  P extends z.ZodType | undefined,
  Q extends z.ZodType | undefined,
  A extends AuthKind,
  R extends z.ZodType,
> {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  tag: string;
  /** Enforced by the registry before the handler runs, and documented from the same field. */
  auth: A;
  /** With `auth: 'account'`: the account needs one of these roles (403 and audited otherwise). */
  roles?: A extends 'account' ? readonly Role[] : never;
  body?: B;
  /** The body is bytes (application/octet-stream, recording chunks), not JSON. */
  binaryBody?: true;
  /** Documents a body the handler parses itself (the ticket webhook needs the raw bytes first). */
  docBody?: z.ZodType;
  params?: P;
  query?: Q;
  /** The answer's shape (common/protocol/responses.ts); the handler must return it. */
  response: R;
  /** Status codes and what they mean, for the OpenAPI document. */
  responses: Record<number, string>;
  handler: (
    ctx: {
      req: FastifyRequest;
      reply: FastifyReply;
      body: B extends z.ZodType ? z.infer<B> : undefined;
      params: P extends z.ZodType ? z.infer<P> : undefined;
      query: Q extends z.ZodType ? z.infer<Q> : undefined;
    } & CallerOf<A>,
  ) => Promise<NoInfer<z.infer<R>>>;
}

export type AnyRoute = RouteDef<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined, AuthKind, z.ZodType>;

/**
 * Every route is declared once: Fastify gets the handler, the OpenAPI document the description,
 * and the registry enforces the declared `auth` and `roles`, so the document and the check cannot
 * drift apart. Input is parsed first (a malformed request is a 400 whoever sends it), then the
 * caller is authenticated, then the handler runs with the caller in its context.
 */
export class RouteRegistry {
  readonly routes: AnyRoute[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly auth: Authenticator,
  ) {}

  add<B extends z.ZodType | undefined, P extends z.ZodType | undefined, Q extends z.ZodType | undefined, A extends AuthKind, R extends z.ZodType>(def: RouteDef<B, P, Q, A, R>): void {
    const route = def as unknown as AnyRoute;
    this.routes.push(route);
    this.app.route({
      method: def.method,
      url: def.url,
      handler: async (req, reply) => {
        // Bodies are parsed as unknown through the route's schema; a GET or an undeclared body must be empty.
        const body = def.body ? parseInput(def.body, req.body, 'body') : undefined;
        const params = def.params ? parseInput(def.params, req.params, 'path') : undefined;
        const query = def.query ? parseInput(def.query, req.query, 'query') : undefined;
        const caller = await this.caller(route, req);
        return route.handler({ req, reply, body, params, query, ...caller } as never);
      },
    });
  }

  private async caller(def: AnyRoute, req: FastifyRequest): Promise<object> {
    switch (def.auth) {
      case 'none':
        return {};
      case 'account':
        return this.auth.account(req, def.roles);
      case 'device':
        return { device: await this.auth.device(req) };
      case 'webhook':
        return { webhook: await this.auth.webhook(req) };
      case 'session':
        return { session: await this.auth.session(req) };
      case 'playback':
        return { playback: await this.auth.playback(req) };
      default:
        return missingCase(def.auth);
    }
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
    if (r.auth === 'account' || r.auth === 'device' || r.auth === 'session') {
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
      ...(r.auth === 'account' ? { security: [{ DPoPAccessToken: [] }] } : r.auth === 'session' ? { security: [{ DPoPSessionToken: [] }] } : {}),
      ...(r.roles ? { 'x-roles': r.roles } : {}),
      parameters,
      ...(r.binaryBody
        ? { 'x-binary-body': true, requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } }
        : requestBody(r.body ?? r.docBody, schema)),
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
        DPoPSessionToken: { type: 'http', scheme: 'DPoP', description: "Authorization: DPoP <session token> (the end user's, from consent), with a DPoP proof signed by the device key the token is bound to." },
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
