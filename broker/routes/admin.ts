import { AuditQuery, DeliveriesQuery, OptionalEmptyBody, UserCreateBody, UserRolesBody, UsernameParams } from '../../common/protocol/api.js';
import { AuditEventsSchema, CreatedAccountSchema, HookDeliveriesSchema, KeyRotatedSchema, PasswordResetSchema, UserDisabledSchema, UserListSchema, UserRolesSchema } from '../../common/protocol/responses.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import { ApiError } from '../http/errors.js';
import type { RouteRegistry } from '../http/registry.js';

export function adminRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/admin/users',
    summary: 'List accounts',
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    response: UserListSchema,
    responses: { 200: '{ users: [...] }', 403: 'not an admin' },
    handler: async () => {
      return { users: await ctx.accounts.list() };
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/admin/users',
    summary: 'Create an account; returns its one-time password and TOTP secret once',
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    body: UserCreateBody,
    response: CreatedAccountSchema,
    responses: { 200: 'created', 403: 'not an admin', 409: 'username taken' },
    handler: async ({ body, account }) => {
      return ctx.accounts.create(body, `account:${account.username}`);
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/admin/users/:username/disable',
    summary: 'Disable an account: every token it holds is refused at once and its live sessions end (account_revoked)',
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    params: UsernameParams,
    body: OptionalEmptyBody,
    response: UserDisabledSchema,
    responses: { 200: 'disabled', 403: 'not an admin', 404: 'no such account' },
    handler: async ({ params, account }) => {
      await ctx.accounts.disable(params.username, `account:${account.username}`);
      return { disabled: params.username };
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/admin/users/:username/roles',
    summary: "Set an account's roles; taking one away refuses every token it holds and ends its live sessions (account_revoked)",
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    params: UsernameParams,
    body: UserRolesBody,
    response: UserRolesSchema,
    responses: { 200: '{ username, roles }', 403: 'not an admin', 404: 'no such account' },
    handler: async ({ params, body, account }) => ctx.accounts.setRoles(params.username, body.roles, `account:${account.username}`),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/admin/users/:username/reset-password',
    summary: 'Give an account a new one-time password (changed at its next sign-in); every token it holds is refused and its live sessions end',
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    params: UsernameParams,
    body: OptionalEmptyBody,
    response: PasswordResetSchema,
    responses: { 200: '{ username, one_time_password }', 403: 'not an admin', 404: 'no such account' },
    handler: async ({ params, account }) => ctx.accounts.resetPassword(params.username, `account:${account.username}`),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/admin/keys/rotate',
    summary: 'Start signing with a new key; the old one stays in the JWKS until its tokens expire',
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    body: OptionalEmptyBody,
    response: KeyRotatedSchema,
    responses: { 200: '{ kid, previous }', 403: 'not an admin', 409: 'cluster mode: rotate on the shared data dir and restart the instances (docs/operations.md)' },
    handler: async ({ req, account }) => {
      // One instance signing with a key the others have not loaded would hand out tokens they refuse.
      if (ctx.cluster) throw new ApiError(409, 'cluster_key_rotation', 'in a cluster, rotate with `chaperone-broker keys rotate` on the shared data dir, then restart the instances one at a time (docs/operations.md)');
      const previous = ctx.keys.active.kid;
      const k = ctx.keys.rotate(ctx.now());
      await ctx.audit.append({ type: 'keys.rotated', outcome: 'success', actor: `account:${account.username}`, source: sourceOf(req), meta: { kid: k.kid, previous } });
      return { kid: k.kid, previous };
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/admin/hook-deliveries',
    summary: 'Outbound webhook deliveries, for example the ones that failed after every retry',
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    query: DeliveriesQuery,
    response: HookDeliveriesSchema,
    responses: { 200: '{ deliveries: [...] }', 403: 'not an admin' },
    handler: async ({ query }) => {
      let q = ctx.storage.db.selectFrom('hook_deliveries').select(['id', 'event_type', 'url', 'status', 'attempts', 'last_error', 'created_at', 'delivered_at', 'next_attempt_at']).orderBy('created_at', 'desc').limit(query.limit).$narrowType<{ status: 'pending' | 'delivered' | 'failed' }>();
      if (query.status) q = q.where('status', '=', query.status);
      return { deliveries: await q.execute() };
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/audit/events',
    summary: 'Read the audit chain (auditors and admins), oldest first after a sequence number',
    tag: 'audit',
    auth: 'account',
    roles: ['auditor', 'admin'],
    query: AuditQuery,
    response: AuditEventsSchema,
    responses: { 200: '{ events: [...] }', 403: 'not an auditor' },
    handler: async ({ query }) => {
      await ctx.audit.flush();
      let q = ctx.storage.db.selectFrom('audit_events').selectAll().where('seq', '>', query.after_seq).orderBy('seq').limit(query.limit);
      if (query.session_id) q = q.where('session_id', '=', query.session_id);
      const rows = await q.execute();
      return { events: rows.map((e) => ({ ...e, meta: JSON.parse(e.meta) as unknown })) };
    },
  });
}
