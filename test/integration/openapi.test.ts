import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, requestSession } from '../../kit/lifecycle.js';

type Schema = Record<string, unknown>;
interface Operation {
  summary?: string;
  parameters?: { name: string; in: string; required?: boolean; schema?: Schema }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
  security?: unknown[];
  'x-binary-body'?: boolean;
}
interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** Paths a client of this broker relies on; each must be served and described. */
const DOCUMENTED: [method: string, path: string][] = [
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/metrics'],
  ['get', '/.well-known/jwks.json'],
  ['get', '/openapi.json'],
  ['post', '/api/v1/auth/login'],
  ['post', '/api/v1/auth/password'],
  ['post', '/api/v1/auth/refresh'],
  ['post', '/api/v1/auth/logout'],
  ['get', '/api/v1/me'],
  ['post', '/api/v1/sessions'],
  ['get', '/api/v1/sessions'],
  ['get', '/api/v1/sessions/{id}'],
  ['post', '/api/v1/sessions/{id}/approve'],
  ['post', '/api/v1/sessions/{id}/reject'],
  ['post', '/api/v1/sessions/{id}/code'],
  ['post', '/api/v1/sessions/{id}/token'],
  ['post', '/api/v1/sessions/{id}/end'],
  ['post', '/api/v1/sessions/{id}/kill'],
  ['post', '/api/v1/sessions/{id}/extensions/{eid}/approve'],
  ['post', '/api/v1/sessions/{id}/extensions/{eid}/reject'],
  ['get', '/api/v1/extensions/pending'],
  ['post', '/api/v1/join'],
  ['post', '/api/v1/join/consent'],
  ['get', '/api/v1/admin/users'],
  ['post', '/api/v1/admin/users'],
  ['post', '/api/v1/admin/users/{username}/disable'],
  ['post', '/api/v1/admin/users/{username}/roles'],
  ['post', '/api/v1/admin/users/{username}/reset-password'],
  ['post', '/api/v1/admin/keys/rotate'],
  ['get', '/api/v1/admin/hook-deliveries'],
  ['get', '/api/v1/audit/events'],
  ['post', '/api/v1/webhooks/tickets'],
];

/** The signaling WebSocket is not an HTTP operation; docs/signaling.md describes it. */
/** WebSockets (docs/signaling.md): the signaling socket and the watch socket. */
const NOT_HTTP = new Set(['GET /api/v1/signaling', 'GET /api/v1/sessions/{id}/watch']);

/** Every method+path Fastify serves, read from its route tree (HEAD is implied by GET). */
function servedRoutes(tree: string): Set<string> {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const full = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = full;
    for (const method of (m[3] ?? '').split(',').map((x) => x.trim())) {
      if (method && method !== 'HEAD') out.add(`${method} ${full.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    }
  }
  return out;
}

/** Walks a JSON schema and its anyOf/oneOf/allOf branches. */
function branches(s: Schema): Schema[] {
  const kids = ['anyOf', 'oneOf', 'allOf'].flatMap((k) => (Array.isArray(s[k]) ? (s[k] as Schema[]) : []));
  return [s, ...kids.flatMap(branches)];
}
const acceptsAnything = (s: Schema) => Object.keys(s).filter((k) => k !== 'description' && k !== 'default').length === 0;

async function raw(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body, headers: res.headers };
}

/** Exactly `{ error: { code, message } }`, nothing else, strings both. */
function expectErrorShape(r: { contentType: string; body: unknown }, code?: string): void {
  expect(r.contentType).toMatch(/^application\/json/);
  expect(r.body).toEqual({ error: { code: code ?? expect.any(String), message: expect.any(String) } });
  expect(Object.keys(r.body as object)).toEqual(['error']);
  expect(Object.keys((r.body as { error: object }).error).sort()).toEqual(['code', 'message']);
  expect((r.body as { error: { message: string } }).error.message.length).toBeGreaterThan(0);
}

describe.each(ENGINES)('OpenAPI document, operations endpoints and error shapes on %s', (engine) => {
  let b: TestBroker;
  let doc: OpenApiDoc;
  let analyst: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    b = await startTestBroker(engine);
    analyst = await createUser(b, 'alice', ['analyst']);
    admin = await createUser(b, 'root', ['admin']);
    const r = await raw(`${b.url}/openapi.json`);
    expect(r.status).toBe(200);
    doc = r.body as OpenApiDoc;
  });
  afterAll(async () => b?.destroy());

  it('is an OpenAPI 3.0.x document with an Error schema of the one error shape', () => {
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.components.schemas.Error).toMatchObject({
      type: 'object',
      required: ['error'],
      properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
    });
  });

  it('its server URL is the address the broker really listens on (started with port 0)', () => {
    const servers = (doc as unknown as { servers?: { url: string }[] }).servers;
    expect(servers?.[0]?.url).toBe(b.url);
  });

  it('describes every documented path', () => {
    const missing = DOCUMENTED.filter(([m, p]) => !doc.paths[p]?.[m]).map(([m, p]) => `${m.toUpperCase()} ${p}`);
    expect(missing).toEqual([]);
  });

  it('describes exactly the HTTP routes the broker serves', () => {
    const served = servedRoutes(b.app.printRoutes({ commonPrefix: false }));
    expect(served.size).toBeGreaterThanOrEqual(DOCUMENTED.length);
    const described = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    const undocumented = [...served].filter((r) => !described.has(r) && !NOT_HTTP.has(r));
    const phantom = [...described].filter((r) => !served.has(r));
    expect(undocumented).toEqual([]);
    expect(phantom).toEqual([]);
    for (const [m, p] of DOCUMENTED) expect(served.has(`${m.toUpperCase()} ${p}`), `${m} ${p} is not served`).toBe(true);
  });

  it('every operation has a summary and responses with descriptions; errors use the Error schema', () => {
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        const where = `${m.toUpperCase()} ${p}`;
        expect(op.summary, where).toBeTruthy();
        const codes = Object.keys(op.responses ?? {});
        expect(codes.length, where).toBeGreaterThan(0);
        // A redirect route's success is its 3xx (the identity provider's callback).
        expect(codes.some((c) => c.startsWith('2') || c.startsWith('3')), `${where} has no success response`).toBe(true);
        for (const [c, resp] of Object.entries(op.responses ?? {})) {
          expect(resp.description, `${where} ${c}`).toBeTruthy();
          if (Number(c) >= 400) expect(resp.content?.['application/json']?.schema, `${where} ${c}`).toEqual({ $ref: '#/components/schemas/Error' });
        }
      }
    }
  });

  it('every POST that takes a JSON body describes it with a JSON schema that constrains it', () => {
    const problems: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths)) {
      const op = ops.post;
      if (!op) continue;
      // Recording chunks are bytes, documented as such (and only there).
      if (op['x-binary-body'] === true) {
        if (Object.keys(op.requestBody?.content ?? {}).join() !== 'application/octet-stream') problems.push(`POST ${p}: a binary body documented as something else`);
        continue;
      }
      const schema = op.requestBody?.content?.['application/json']?.schema;
      if (!schema) {
        problems.push(`POST ${p}: no application/json request body schema`);
        continue;
      }
      if (branches(schema).some(acceptsAnything)) problems.push(`POST ${p}: the schema has a branch that accepts any value: ${JSON.stringify(schema)}`);
      if (Object.keys(op.requestBody?.content ?? {}).some((ct) => ct !== 'application/json')) problems.push(`POST ${p}: non-JSON content type documented`);
    }
    expect(problems).toEqual([]);
  });

  it('the request body of the main calls names its fields, required ones and enums', () => {
    const body = (p: string) => doc.paths[p]?.post?.requestBody?.content?.['application/json']?.schema as { type?: string; properties?: Record<string, Schema>; required?: string[]; additionalProperties?: unknown } | undefined;
    expect(body('/api/v1/sessions')).toMatchObject({ type: 'object', additionalProperties: false });
    expect(body('/api/v1/sessions')?.required?.sort()).toEqual(['capabilities', 'duration_minutes', 'reason', 'ticket']);
    expect(body('/api/v1/join')).toMatchObject({ type: 'object', required: ['code'], additionalProperties: false });
    expect(body('/api/v1/join/consent')?.required?.sort()).toEqual(['receipt', 'session_id']);
    // The ticketing system's integrators need the webhook's body as much as anyone.
    const hook = body('/api/v1/webhooks/tickets');
    expect(hook, 'the ticket webhook documents no request body').toBeDefined();
    expect(hook?.required?.sort()).toEqual(['event_id', 'status', 'ticket']);
    expect(hook?.properties?.status).toMatchObject({ enum: ['open', 'approved', 'closed'] });
  });

  it('query parameters that have a default are not marked required', async () => {
    const wrong: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        for (const q of op.parameters ?? []) {
          if (q.in === 'query' && q.required && q.schema && 'default' in q.schema) wrong.push(`${m.toUpperCase()} ${p} ?${q.name}`);
        }
      }
    }
    // GET /api/v1/sessions works without ?limit (it defaults to 100), so a client must not be told to send it.
    const list = await analyst.api.get('/api/v1/sessions');
    expect(list.status).toBe(200);
    expect(wrong).toEqual([]);
  });

  it('an empty-bodied action works without a body, and the document says the body is optional', async () => {
    const s = await requestSession(analyst, ['view']);
    const proof = await admin.api.device.httpProof('POST', `${b.url}/api/v1/sessions/${s.id}/kill`, admin.api.accessToken!);
    const res = await fetch(`${b.url}/api/v1/sessions/${s.id}/kill`, { method: 'POST', headers: { authorization: `DPoP ${admin.api.accessToken}`, dpop: proof } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { end_reason: string }).end_reason).toBe('revoked');
    const op = doc.paths['/api/v1/sessions/{id}/kill']?.post;
    expect(op?.requestBody?.required).toBe(false);
  });

  it('authenticated operations document 401, and operations that validate input document 400', () => {
    const missing: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        const codes = Object.keys(op.responses ?? {});
        const authed = (op.parameters ?? []).some((x) => x.in === 'header' && /^(dpop|x-chaperone-signature)$/i.test(x.name));
        const validates = Boolean(op.requestBody) || (op.parameters ?? []).some((x) => x.in === 'path' || x.in === 'query');
        if (authed && !codes.includes('401')) missing.push(`${m.toUpperCase()} ${p}: 401`);
        if (validates && !codes.includes('400')) missing.push(`${m.toUpperCase()} ${p}: 400`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('/readyz answers 200 with the engine', async () => {
    const r = await raw(`${b.url}/readyz`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ready', engine });
    const h = await raw(`${b.url}/healthz`);
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ status: 'ok' });
  });

  it('/metrics is Prometheus text and chaperone_live_sessions follows the sessions', async () => {
    const read = async () => {
      const r = await fetch(`${b.url}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return r.text();
    };
    const text = await read();
    // Every sample line is `name{labels} number` and every metric has HELP and TYPE.
    const names = new Set<string>();
    for (const line of text.split('\n').filter(Boolean)) {
      if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
        if (line.startsWith('# TYPE ')) expect(line).toMatch(/^# TYPE [a-z_:][a-z0-9_:]* (counter|gauge|histogram|summary|untyped)$/);
        names.add(line.split(' ')[2]!);
        continue;
      }
      expect(line).toMatch(/^[a-z_:][a-z0-9_:]*(\{[a-z_][a-z0-9_]*="[^"\n]*"(,[a-z_][a-z0-9_]*="[^"\n]*")*\})? -?\d+(\.\d+)?(e[+-]?\d+)?$/);
      expect(names.has(line.split(/[{ ]/)[0]!), line).toBe(true);
    }
    for (const n of ['chaperone_live_sessions', 'chaperone_signaling_sockets', 'chaperone_auth_failures_total', 'chaperone_sessions_ended_total', 'chaperone_hook_delivery_failures_total', 'chaperone_audit_events_appended']) {
      expect(text, n).toContain(`# TYPE ${n} `);
    }
    const live = (t: string) => Number(/^chaperone_live_sessions (\d+)$/m.exec(t)?.[1]);
    const before = live(text);
    expect(Number.isFinite(before)).toBe(true);
    const s = await activeSession(b, analyst);
    expect(live(await read())).toBe(before + 1);
    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    const after = await read();
    expect(live(after)).toBe(before);
    expect(after).toMatch(/^chaperone_sessions_ended_total\{reason="completed"\} [1-9]\d*$/m);
  });

  describe('errors have exactly the shape { error: { code, message } }', () => {
    it('unknown route: 404 not_found (and probes under /api are audited)', async () => {
      const r = await raw(`${b.url}/api/v1/no-such-thing`);
      expect(r.status).toBe(404);
      expectErrorShape(r, 'not_found');
      const r2 = await raw(`${b.url}/nothing-here`, { method: 'POST' });
      expect(r2.status).toBe(404);
      expectErrorShape(r2, 'not_found');
      // Odd spellings of real paths do not reach them.
      for (const p of ['/api/v1/admin%2fusers', '/API/v1/admin/users', '/api/v1/admin/users/', '/api/v1//admin/users']) {
        const r3 = await raw(`${b.url}${p}`);
        expect(r3.status, p).toBe(404);
        expectErrorShape(r3, 'not_found');
      }
      await b.ctx.audit.flush();
      const rows = await b.ctx.storage.db.selectFrom('audit_events').select(['meta']).where('type', '=', 'http.not_found').execute();
      const paths = rows.map((x) => (JSON.parse(x.meta) as { path: string }).path);
      expect(paths).toContain('/api/v1/no-such-thing');
      expect(paths).toContain('/api/v1/admin%2fusers');
    });

    it('invalid JSON: 400 invalid_json', async () => {
      const r = await raw(`${b.url}/api/v1/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code": "ABCDE-' });
      expect(r.status).toBe(400);
      expectErrorShape(r, 'invalid_json');
    });

    it('a body over 64 KiB: 413 body_too_large; exactly 64 KiB is read', async () => {
      const sized = (n: number) => {
        const s = JSON.stringify({ code: '' });
        return JSON.stringify({ code: 'x'.repeat(n - s.length) });
      };
      expect(Buffer.byteLength(sized(64 * 1024))).toBe(64 * 1024);
      const over = await raw(`${b.url}/api/v1/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sized(64 * 1024 + 1) });
      expect(over.status).toBe(413);
      expectErrorShape(over, 'body_too_large');
      const at = await raw(`${b.url}/api/v1/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sized(64 * 1024) });
      // Read and then refused by the schema (code too long), not by the size limit.
      expect(at.status).toBe(400);
      expectErrorShape(at, 'invalid_body');
    });

    it('a body that is not JSON: 415 unsupported_media_type', async () => {
      for (const [ct, body] of [
        ['application/xml', '<join><code>ABCDE-FGHJK</code></join>'],
        ['application/x-www-form-urlencoded', 'code=ABCDE-FGHJK'],
      ] as const) {
        const r = await raw(`${b.url}/api/v1/join`, { method: 'POST', headers: { 'content-type': ct }, body });
        expect(r.status, ct).toBe(415);
        expectErrorShape(r, 'unsupported_media_type');
      }
    });

    it('text/plain is not JSON either: 415 unsupported_media_type (the API takes JSON bodies only)', async () => {
      const r = await raw(`${b.url}/api/v1/join`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"code":"ABCDE-FGHJK"}' });
      expect(r.status).toBe(415);
      expectErrorShape(r, 'unsupported_media_type');
      // A correctly signed ticket delivery sent as text/plain must not be reported as a forged one.
      const ts = Math.floor(Date.now() / 1000);
      const payload = JSON.stringify({ event_id: crypto.randomUUID(), ticket: 'INC-415', status: 'open' });
      const sig = `v1=${crypto.createHmac('sha256', b.ctx.cfg.ticketWebhookSecret).update(`${ts}.${payload}`).digest('hex')}`;
      const w = await raw(`${b.url}/api/v1/webhooks/tickets`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sig }, body: payload });
      expect(w.status).toBe(415);
      expectErrorShape(w, 'unsupported_media_type');
    });

    it('a body that breaks the schema (an extra field): 400 invalid_body', async () => {
      const r = await analyst.api.post('/api/v1/sessions', { ticket: 'INC-1', reason: 'printer', capabilities: ['view'], duration_minutes: 10, admin: true });
      expect(r.status).toBe(400);
      expectErrorShape({ contentType: r.headers.get('content-type') ?? '', body: r.body }, 'invalid_body');
      expect(r.body.error.message).toMatch(/admin/);
      const wrongType = await analyst.api.post('/api/v1/sessions', { ticket: 'INC-1', reason: 'printer', capabilities: ['view'], duration_minutes: '10' });
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.error.code).toBe('invalid_body');
      // Nothing was created by either.
      const list = await analyst.api.get('/api/v1/sessions');
      expect((list.body.sessions as { ticket: string }[]).some((x) => x.ticket === 'INC-1')).toBe(false);
    });

    it('a bad path parameter or query: 400 invalid_path / invalid_query', async () => {
      const p = await analyst.api.get('/api/v1/sessions/not-a-uuid');
      expect(p.status).toBe(400);
      expectErrorShape({ contentType: p.headers.get('content-type') ?? '', body: p.body }, 'invalid_path');
      const q = await analyst.api.get('/api/v1/sessions?limit=0');
      expect(q.status).toBe(400);
      expectErrorShape({ contentType: q.headers.get('content-type') ?? '', body: q.body }, 'invalid_query');
    });

    it('a malformed percent-encoding in the URL: 400 in the same shape', async () => {
      const r = await raw(`${b.url}/api/v1/sessions/%E0%A4%A`);
      expect(r.status).toBe(400);
      expectErrorShape(r);
    });

    it('an unauthenticated call: 401 in the same shape', async () => {
      const r = await raw(`${b.url}/api/v1/me`);
      expect(r.status).toBe(401);
      expectErrorShape(r);
    });
  });
});
