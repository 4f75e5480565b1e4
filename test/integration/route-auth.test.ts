import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../common/roles.js';
import { signWebhook } from '../../broker/hooks/signature.js';
import type { AnyRoute } from '../../broker/http/registry.js';
import { ApiClient } from '../../kit/api.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';

/**
 * The route registry enforces what each route declares (the same fields the OpenAPI document is
 * made from). This walks every registered route, so a new one is covered the day it is added.
 */

/** A body each route's schema accepts, so a request gets past input parsing to the caller check. */
const BODIES: Record<string, unknown> = {
  'POST /api/v1/auth/login': { username: 'nobody', password: 'wrong' },
  'POST /api/v1/auth/login/passkey-options': { username: 'nobody', password: 'wrong' },
  'POST /api/v1/auth/password': { username: 'nobody', password: 'wrong', new_password: 'a-long-new-password' },
  'POST /api/v1/auth/first-sign-in': { username: 'nobody', password: 'wrong' },
  'POST /api/v1/auth/first-sign-in/finish': { setup_token: 'not-a-setup-token', new_password: 'a-long-new-password' },
  'POST /api/v1/auth/step-up': { totp: '123456' },
  'POST /api/v1/me/passkeys': { challenge_id: 'A'.repeat(22), name: 'Key', credential: { id: 'AA', rawId: 'AA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'AA', attestationObject: 'AA' } } },
  'POST /api/v1/auth/step-up/passkey': { challenge_id: 'A'.repeat(22), credential: { id: 'AA', rawId: 'AA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'AA', authenticatorData: 'AA', signature: 'AA' } } },
  'POST /api/v1/auth/oidc/start': { return_to: 'http://127.0.0.1:1/console' },
  'POST /api/v1/auth/oidc/finish': { state: 's'.repeat(24), code: 'a-code' },
  'POST /api/v1/auth/oidc/step-up': { return_to: 'http://127.0.0.1:1/console' },
  'POST /api/v1/auth/oidc/step-up/finish': { state: 's'.repeat(24), code: 'a-code' },
  'POST /api/v1/auth/refresh': { refresh_token: 'r'.repeat(32) },
  'POST /api/v1/auth/logout': { refresh_token: 'r'.repeat(32) },
  'POST /api/v1/sessions': { ticket: 'INC-AUTH', reason: 'printer', capabilities: ['view'], duration_minutes: 5 },
  'POST /api/v1/sessions/:id/reject': { reason: 'no change window' },
  'POST /api/v1/join': { code: 'ZZZZZ-ZZZZZ' },
  'POST /api/v1/join/consent': { session_id: crypto.randomUUID(), receipt: 'not-a-receipt' },
  'POST /api/v1/join/teardown-report': { session_id: crypto.randomUUID(), revoked: [], after_crash: false, receipt: 'not-a-receipt-at-all' },
  'POST /api/v1/admin/users': { username: 'walker', display_name: 'Walker', organisation: 'Acme IT', roles: ['auditor'] },
  'POST /api/v1/admin/users/:username/roles': { roles: ['auditor'] },
  'POST /api/v1/admin/users/:username/organisation': { organisation: 'Acme IT' },
  // A version no save has: an admin's try is told someone changed it (409) and changes nothing.
  'POST /api/v1/admin/policy': { policy: {}, version: 999 },
  'POST /api/v1/webhooks/tickets': { event_id: 'e-1', ticket: 'INC-AUTH', status: 'open' },
  'POST /api/v1/sessions/:id/recording/chunks/:seq': Buffer.from('chunk'),
  'POST /api/v1/sessions/:id/moderation/note': { text: 'a note' },
  'POST /api/v1/sessions/:id/stop': { reason: 'capture_refused' },
  'POST /api/v1/sessions/:id/recording/transcript': { seq: 0, entries: [{ t: 1, kind: 'click', x: 0.5, y: 0.5, button: 'left' }] },
};

const key = (r: AnyRoute) => `${r.method} ${r.url}`;
const pathOf = (r: AnyRoute) => r.url.replace(':code', 'ZZZZZ-ZZZZZ').replace(':seq', '0').replace(':id', crypto.randomUUID()).replace(':eid', crypto.randomUUID()).replace(':username', 'nobody-here');
const bodyOf = (r: AnyRoute) => (r.method === 'GET' ? undefined : (BODIES[key(r)] ?? {}));

describe('every route enforces the auth and roles it declares', () => {
  let b: TestBroker;
  const byRole = {} as Record<Role, TestUser>;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    for (const role of ['analyst', 'approver', 'admin', 'auditor', 'supervisor'] as const) byRole[role] = await createUser(b, `only-${role}`, [role]);
  });
  afterAll(async () => b?.destroy());

  const events = async (type: string) => {
    await b.ctx.audit.flush();
    return b.ctx.storage.db.selectFrom('audit_events').selectAll().where('type', '=', type).orderBy('seq').execute();
  };
  const anonymous = (r: AnyRoute) => new ApiClient(b.url).call(r.method, pathOf(r), bodyOf(r), { proof: false, token: null });

  it('walks every kind of route there is', () => {
    const kinds = new Set(b.routes.map((r) => r.auth));
    expect([...kinds].sort()).toEqual(['account', 'device', 'none', 'playback', 'session', 'webhook']);
    expect(b.routes.length).toBeGreaterThanOrEqual(31);
  });

  it('each sample body gets past the schema, so every refusal below is the caller check', () => {
    for (const r of b.routes) {
      const body = bodyOf(r);
      const schema = r.body ?? r.docBody;
      if (schema) expect(schema.safeParse(body).success, key(r)).toBe(true);
    }
  });

  it("auth 'account': no credentials 401; a token without roles the route names 403, audited as auth.role_denied", async () => {
    for (const r of b.routes.filter((x) => x.auth === 'account')) {
      const none = await anonymous(r);
      expect(none.status, key(r)).toBe(401);
      expect(none.body.error.code, key(r)).toBe('token_required');
      // A device proof alone is not an account.
      const proofOnly = await new ApiClient(b.url).call(r.method, pathOf(r), bodyOf(r), { token: null });
      expect(proofOnly.status, key(r)).toBe(401);
      if (!r.roles) continue;
      const outsider = (Object.keys(byRole) as Role[]).find((role) => !r.roles!.includes(role));
      expect(outsider, `${key(r)} names every role; it should name none`).toBeDefined();
      const before = (await events('auth.role_denied')).length;
      const denied = await byRole[outsider!].api.call(r.method, pathOf(r), bodyOf(r));
      expect(denied.status, key(r)).toBe(403);
      expect(denied.body.error, key(r)).toEqual({ code: 'forbidden', message: `this needs one of the roles: ${r.roles.join(', ')}` });
      const audited = await events('auth.role_denied');
      expect(audited.length, key(r)).toBe(before + 1);
      expect(audited.at(-1), key(r)).toMatchObject({ outcome: 'denied', actor: `account:only-${outsider}` });
      expect(JSON.parse(audited.at(-1)!.meta), key(r)).toEqual({ needed: [...r.roles], route: r.url });
      // One of the roles it names gets past the check (whatever the session service then says).
      const insider = byRole[r.roles[0] as Role];
      const let_in = await insider.api.call(r.method, pathOf(r), bodyOf(r));
      expect(let_in.status === 401 || (let_in.status === 403 && /needs one of the roles/.test(let_in.body?.error?.message ?? '')), `${key(r)} refused ${r.roles[0]}`).toBe(false);
      expect((await events('auth.role_denied')).length, key(r)).toBe(before + 1);
    }
  });

  it("auth 'account' without roles: any signed-in account gets past the check", async () => {
    for (const r of b.routes.filter((x) => x.auth === 'account' && !x.roles)) {
      for (const u of Object.values(byRole)) {
        const res = await u.api.call(r.method, pathOf(r), bodyOf(r));
        expect([401, 403], `${key(r)} as ${u.username}`).not.toContain(res.status);
      }
    }
  });

  it("auth 'device': no proof 401 proof_required (audited); a device proof gets past the check", async () => {
    for (const r of b.routes.filter((x) => x.auth === 'device')) {
      const before = (await events('auth.request_rejected')).length;
      const none = await anonymous(r);
      expect(none.status, key(r)).toBe(401);
      expect(none.body.error.code, key(r)).toBe('proof_required');
      expect((await events('auth.request_rejected')).length, key(r)).toBe(before + 1);
      // With a proof the request reaches the handler: whatever it answers, the registry refused nothing.
      const proved = await new ApiClient(b.url).call(r.method, pathOf(r), bodyOf(r), { token: null });
      expect(proved.body?.error?.code, key(r)).not.toBe('proof_required');
      expect((await events('auth.request_rejected')).length, key(r)).toBe(before + 1);
    }
  });

  it("auth 'webhook': no signature 401, an account's credentials do not stand in for one; a signed delivery is taken", async () => {
    for (const r of b.routes.filter((x) => x.auth === 'webhook')) {
      const before = (await events('ticket.webhook_rejected')).length;
      const none = await anonymous(r);
      expect(none.status, key(r)).toBe(401);
      expect(none.body.error.code, key(r)).toBe('bad_webhook_signature');
      const asAdmin = await byRole.admin.api.call(r.method, pathOf(r), bodyOf(r));
      expect(asAdmin.status, key(r)).toBe(401);
      expect((await events('ticket.webhook_rejected')).length, key(r)).toBe(before + 2);
      const raw = JSON.stringify({ ...(bodyOf(r) as object), event_id: crypto.randomUUID() });
      const ts = Math.floor(Date.now() / 1000);
      const signed = await new ApiClient(b.url).call(r.method, pathOf(r), undefined, {
        proof: false,
        rawBody: raw,
        headers: { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': signWebhook(b.ctx.cfg.ticketWebhookSecret, ts, raw) },
      });
      expect(signed.status, key(r)).toBe(200);
    }
  });

  it("auth 'session': no token 401 token_required (audited); an account's access token is not a session token", async () => {
    for (const r of b.routes.filter((x) => x.auth === 'session')) {
      const before = (await events('auth.request_rejected')).length;
      const raw = r.binaryBody ? { rawBody: 'chunk', headers: { 'content-type': 'application/octet-stream' } } : { rawBody: JSON.stringify(bodyOf(r)) };
      const none = await new ApiClient(b.url).call(r.method, pathOf(r), undefined, { proof: false, token: null, ...raw });
      expect(none.status, key(r)).toBe(401);
      expect(none.body.error.code, key(r)).toBe('token_required');
      const access = await byRole.admin.api.call(r.method, pathOf(r), undefined, raw);
      expect(access.status, key(r)).toBe(401);
      expect(access.body.error.code, key(r)).toBe('bad_token');
      expect((await events('auth.request_rejected')).length, key(r)).toBe(before + 2);
    }
  });

  it("auth 'playback': no ticket 401 ticket_required, a forged or another session's ticket 401 bad_playback_ticket, each audited", async () => {
    for (const r of b.routes.filter((x) => x.auth === 'playback')) {
      const before = (await events('auth.request_rejected')).length;
      const none = await anonymous(r);
      expect([none.status, none.body.error.code], key(r)).toEqual([401, 'ticket_required']);
      const forged = await new ApiClient(b.url).call(r.method, `${pathOf(r)}?ticket=eyJhbGciOiJFZERTQSJ9.e30.AAAA`, bodyOf(r), { proof: false, token: null });
      expect([forged.status, forged.body.error.code], key(r)).toEqual([401, 'bad_playback_ticket']);
      expect((await events('auth.request_rejected')).length, key(r)).toBe(before + 2);
    }
  });

  it("auth 'none': answers without any credentials", async () => {
    for (const r of b.routes.filter((x) => x.auth === 'none')) {
      const res = await anonymous(r);
      // The provider's redirect carries its answer in the query; this broker has no provider set up.
      if (key(r) === 'GET /api/v1/auth/oidc/callback') expect(res.body.error.code, key(r)).toBe('sso_not_configured');
      // This broker has no branding logo: the documented 404, not a demand for credentials.
      else if (key(r) === 'GET /api/v1/branding/logo') expect([res.status, res.body.error.code], key(r)).toEqual([404, 'no_logo']);
      else expect(res.status, key(r)).toBe(200);
    }
  });

  it('the OpenAPI document says exactly what is enforced', async () => {
    const doc = (await new ApiClient(b.url).get('/openapi.json')).body as { paths: Record<string, Record<string, { security?: unknown; 'x-roles'?: string[] }>> };
    for (const r of b.routes) {
      const op = doc.paths[r.url.replace(/:([A-Za-z_]+)/g, '{$1}')]?.[r.method.toLowerCase()];
      expect(op, key(r)).toBeDefined();
      expect(Boolean(op!.security), key(r)).toBe(r.auth === 'account' || r.auth === 'session');
      expect(op!['x-roles'], key(r)).toEqual(r.roles);
    }
  });
});
