import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';

/** One request with the path exactly as written: no client-side normalisation of dots or escapes. */
function rawRequest(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

/** Every way of writing /api/v1/admin/users other than that: escapes of letters, dots, slashes. */
const ADMIN_USERS_SPELLINGS = [
  '/api/v1/%61dmin/users',
  '/api/v1/admin/us%65rs',
  '/%61pi/v1/admin/users',
  '/api/v1/%41dmin/users',
  '/api/v1/admin/user%73',
  '/api/%76%31/admin/users',
  '/api/v1/admin/%75%73%65%72%73',
  '/api/v1/ad%6Din/users',
  '/api/v1/ad%6din/users',
  '/api/v1/%2561dmin/users',
  '/api/v1%2fadmin/users',
  '/api/v1%2Fadmin/users',
  '/api/v1/admin/users%2f',
  '/api/v1/admin/users%00',
  '/api/v1/admin/users%20',
  '/api/v1/admin/./users',
  '/api/v1/x/../admin/users',
  '/api/v1/admin/users/.',
  '/api/v1/x/%2e%2e/admin/users',
  '/api/v1/admin/%2e/users',
  '/api/v1/admin\\users',
  '/api/v1/admin/users;x=1',
  '/api/v1/admin/users/',
  '/api/v1//admin/users',
  '/API/v1/admin/users',
];

describe('a route is reached only by its one exact spelling', () => {
  let b: TestBroker;
  let admin: TestUser;
  let approver: TestUser;
  let analyst: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    admin = await createUser(b, 'root', ['admin']);
    approver = await createUser(b, 'bob', ['approver']);
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  /** With a valid token and a proof made for exactly this spelling, as an attacker would. */
  async function asAdmin(method: 'GET' | 'POST', path: string, u: TestUser = admin) {
    const proof = await u.api.device.httpProof(method, `${b.url}${path}`, u.api.accessToken!);
    return rawRequest(b.url, method, path, { authorization: `DPoP ${u.api.accessToken}`, dpop: proof });
  }

  it('the exact spelling works', async () => {
    const r = await asAdmin('GET', '/api/v1/admin/users');
    expect(r.status).toBe(200);
    expect(r.body).toContain('"root"');
  });

  it.each(ADMIN_USERS_SPELLINGS)('GET %s: 404 not_found, nothing answered, audited', async (path) => {
    const r = await asAdmin('GET', path);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'not_found' } });
    expect(r.body).not.toContain('"root"');
  });

  it('every refused spelling is in the audit as http.not_found', async () => {
    await b.ctx.audit.flush();
    const rows = await b.ctx.storage.db.selectFrom('audit_events').select('meta').where('type', '=', 'http.not_found').execute();
    const metas = rows.map((x) => JSON.parse(x.meta) as { path: string; suppressed?: number });
    const recorded = new Set(metas.map((m) => m.path));
    // Floods from one source are summarised (audit throttle): each record counts what it stands for.
    const total = metas.reduce((n, m) => n + 1 + (m.suppressed ?? 0), 0);
    expect(total).toBeGreaterThanOrEqual(ADMIN_USERS_SPELLINGS.length);
    for (const p of ADMIN_USERS_SPELLINGS.slice(0, 5)) expect(recorded.has(p), p).toBe(true);
  });

  it('an encoded action on a session does nothing (the kill switch)', async () => {
    const s = await activeSession(b, analyst);
    for (const action of ['%6Bill', 'k%69ll', 'kil%6C', 'KILL']) {
      const r = await asAdmin('POST', `/api/v1/sessions/${s.id}/${action}`);
      expect(r.status, action).toBe(404);
    }
    const encodedId = s.id.replace(/a/g, '%61');
    if (encodedId !== s.id) expect((await asAdmin('POST', `/api/v1/sessions/${encodedId}/kill`)).status).toBe(404);
    const row = await b.ctx.storage.db.selectFrom('sessions').select('state').where('id', '=', s.id).executeTakeFirstOrThrow();
    expect(row.state).toBe('active');
  });

  it('the signaling socket and unauthenticated routes are not reached by other spellings either', async () => {
    for (const path of ['/api/v1/%73ignaling', '/%68ealthz', '/.well-known/jwks%2ejson', '/openapi%2Ejson']) {
      const r = await rawRequest(b.url, 'GET', path);
      expect(r.status, path).toBe(404);
    }
    expect((await rawRequest(b.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('percent-escapes in the query string are fine (only the path must be exact)', async () => {
    const r = await asAdmin('GET', '/api/v1/sessions?limit=%35', approver);
    expect(r.status).toBe(200);
  });
});
