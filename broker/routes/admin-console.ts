import { OptionalEmptyBody, UsernameParams } from '../../common/protocol/api.js';
import { AdminPolicySchema, AuditVerifiedSchema, DeliveryIdParams, DeliveryRetriedSchema, PolicyChangedSchema, PolicyUpdateBody, UserOrganisationBody, UserOrganisationSchema } from '../../common/protocol/admin-console.js';
import type { BrokerContext } from '../context.js';
import { conflict } from '../domain-errors.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

/** Routes the console's admin screens use besides the CLI's (routes/admin.ts). */
export function adminConsoleRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/admin/policy',
    summary: "The policy this broker runs with (broker.json's, or the one last saved here) and its version: approval rules, durations, second factors, step-up, prompts",
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    response: AdminPolicySchema,
    responses: { 200: '{ policy, version }', 403: 'not an admin' },
    handler: async () => {
      await ctx.policy.refresh();
      return ctx.policy.current;
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/admin/policy',
    summary: 'Replace the policy (checked by the same schema as broker.json), made from `version`; new requests follow it at once, on every broker on the database; audited as policy.changed with what changed',
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    body: PolicyUpdateBody,
    response: PolicyChangedSchema,
    responses: { 200: '{ policy, version, changed }', 400: 'the policy breaks a rule (named)', 403: 'not an admin', 409: 'changed by someone else since `version`' },
    handler: async ({ body, account }) => ctx.policy.update(body.policy, body.version, `account:${account.username}`),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/admin/hook-deliveries/:id/retry',
    summary: 'One more attempt at a failed webhook delivery, now; audited as hook.retried with the admin',
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    params: DeliveryIdParams,
    body: OptionalEmptyBody,
    response: DeliveryRetriedSchema,
    responses: { 200: '{ id, status: pending }', 403: 'not an admin', 409: 'not a failed delivery (pending, delivered or unknown)' },
    handler: async ({ params, account }) => {
      if (!(await ctx.hooks.retry(params.id, `account:${account.username}`))) throw conflict('only a failed delivery can be retried: this one is pending, delivered or unknown', 'not_failed');
      return { id: params.id, status: 'pending' } as const;
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/admin/users/:username/organisation',
    summary: "Set an account's organisation (what the end user's consent screen names); audited with who changed it",
    tag: 'admin',
    auth: 'account',
    roles: ['admin'],
    params: UsernameParams,
    body: UserOrganisationBody,
    response: UserOrganisationSchema,
    responses: { 200: '{ username, organisation }', 403: 'not an admin', 404: 'no such account' },
    handler: async ({ params, body, account }) => ctx.accounts.setOrganisation(params.username, body.organisation, `account:${account.username}`),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/audit/verify',
    summary: 'Check the stored audit chain (hashes, signed checkpoints, head) as `chaperone-broker audit verify` does',
    tag: 'audit',
    auth: 'account',
    roles: ['auditor', 'admin'],
    body: OptionalEmptyBody,
    response: AuditVerifiedSchema,
    responses: { 200: '{ ok, events, first_bad, warnings }', 403: 'not an auditor or admin' },
    handler: async ({ req, account }) => {
      const v = await ctx.verifyAudit();
      const actor = `account:${account.username}`;
      if (v.ok) await ctx.audit.append({ type: 'audit.verified', outcome: 'success', actor, source: sourceOf(req), meta: { events: v.events } });
      else await ctx.audit.append({ type: 'audit.verified', outcome: 'failure', actor, source: sourceOf(req), meta: { events: v.events, first_bad_seq: v.first_bad.seq } });
      return { ok: v.ok, events: v.events, first_bad: v.ok ? null : v.first_bad, warnings: v.warnings ?? [] };
    },
  });
}
