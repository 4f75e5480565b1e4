import { ExtensionDecisionBody, ExtensionParams, KillBody, OptionalEmptyBody, RejectBody, SessionIdParams, SessionListQuery, SessionRequestBody } from '../../common/protocol/api.js';
import { CodeResultSchema, ExtensionDecidedSchema, ReissuedSchema, SessionListSchema, SessionTokenSchema, SessionViewSchema } from '../../common/protocol/responses.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

export function sessionRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/sessions',
    summary: 'Request a support session against a ticket; policy decides whether an approver must say yes',
    tag: 'sessions',
    auth: 'account',
    roles: ['analyst'],
    body: SessionRequestBody,
    response: SessionViewSchema,
    responses: { 200: 'the session, approved or awaiting approval', 400: 'invalid body or duration beyond policy', 403: 'not an analyst', 409: 'ticket closed or unknown when policy requires one', 503: 'cluster mode: Redis does not answer (cluster_unavailable)' },
    handler: async ({ req, body, account }) => {
      ctx.cluster?.mustBeReady();
      return ctx.sessions.request(account, body, sourceOf(req));
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/sessions',
    summary: 'List sessions: analysts see their own; approvers, admins and auditors see all',
    tag: 'sessions',
    auth: 'account',
    query: SessionListQuery,
    response: SessionListSchema,
    responses: { 200: '{ sessions: [...] }' },
    handler: async ({ query, account }) => ({ sessions: await ctx.sessions.listFor(account, { state: query.state, limit: query.limit }) }),
  });
  r.add({
    method: 'GET',
    url: '/api/v1/sessions/:id',
    summary: 'One session, with its grants',
    tag: 'sessions',
    auth: 'account',
    params: SessionIdParams,
    response: SessionViewSchema,
    responses: { 200: 'the session', 404: 'no such session (or not yours)' },
    handler: async ({ params, account }) => ctx.sessions.viewFor(account, params.id),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/approve',
    summary: 'Approve a request (never your own)',
    tag: 'approval',
    auth: 'account',
    roles: ['approver'],
    params: SessionIdParams,
    body: OptionalEmptyBody,
    response: SessionViewSchema,
    responses: { 200: 'approved', 403: 'not an approver, or your own request', 409: 'not awaiting approval' },
    handler: async ({ req, params, account }) => ctx.sessions.approve(account, params.id, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/reject',
    summary: 'Reject a request with a reason; the session ends as rejected',
    tag: 'approval',
    auth: 'account',
    roles: ['approver'],
    params: SessionIdParams,
    body: RejectBody,
    response: SessionViewSchema,
    responses: { 200: 'rejected', 403: 'not an approver, or your own request', 409: 'not awaiting approval' },
    handler: async ({ req, params, body, account }) => ctx.sessions.reject(account, params.id, body.reason, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/code',
    summary: 'Issue the single-use join code to read to the end user (valid 10 minutes by default)',
    tag: 'sessions',
    auth: 'account',
    roles: ['analyst'],
    params: SessionIdParams,
    body: OptionalEmptyBody,
    response: CodeResultSchema,
    responses: { 200: '{ code, code_display, expires_at }', 403: 'not your session', 409: 'not approved, or the approval lapsed', 503: 'too many live codes' },
    handler: async ({ req, params, account }) => ctx.sessions.issueCode(account, params.id, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/reissue',
    summary: 'A join code expired unused: a new session under the same approval, while its window lasts, with a new code; the old code stays dead',
    tag: 'sessions',
    auth: 'account',
    roles: ['analyst'],
    params: SessionIdParams,
    body: OptionalEmptyBody,
    response: ReissuedSchema,
    responses: { 200: '{ session, code }', 403: 'not your session', 409: 'the code did not expire unused, the approval lapsed, the ticket is closed, or already reissued', 503: 'too many live codes' },
    handler: async ({ req, params, account }) => {
      ctx.cluster?.mustBeReady();
      return ctx.sessions.reissueCode(account, params.id, sourceOf(req));
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/token',
    summary: "The analyst's session token for signaling (bound to the analyst's device key), with TURN credentials",
    tag: 'sessions',
    auth: 'account',
    roles: ['analyst'],
    params: SessionIdParams,
    body: OptionalEmptyBody,
    response: SessionTokenSchema,
    responses: { 200: '{ token, expires_at, ice_servers }', 403: 'not your session', 409: 'session not active' },
    handler: async ({ req, params, account, device }) => ctx.sessions.analystToken(account, device.jkt, params.id, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/end',
    summary: 'The analyst ends (or cancels) their session; reason completed',
    tag: 'sessions',
    auth: 'account',
    roles: ['analyst'],
    params: SessionIdParams,
    body: OptionalEmptyBody,
    response: SessionViewSchema,
    responses: { 200: 'ended', 403: 'not your session', 409: 'already ended' },
    handler: async ({ req, params, account }) => ctx.sessions.endByAnalyst(account, params.id, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/kill',
    summary: 'Kill switch: end a live session now (admins; approvers for sessions they approved); reason revoked',
    tag: 'sessions',
    auth: 'account',
    roles: ['admin', 'approver'],
    params: SessionIdParams,
    body: KillBody,
    response: SessionViewSchema,
    responses: { 200: 'ended; both sides told (with the reason, if given) and disconnected; tokens revoked', 403: 'not allowed', 409: 'already ended' },
    handler: async ({ req, params, body, account }) => ctx.sessions.kill(account, params.id, sourceOf(req), body?.reason),
  });
  for (const decision of ['approve', 'reject'] as const) {
    r.add({
      method: 'POST',
      url: `/api/v1/sessions/:id/extensions/:eid/${decision}`,
      summary:
        decision === 'approve'
          ? 'Approve a request for more time (the end user still has to consent)'
          : 'Reject a request for more time, with an optional reason the analyst is shown; the end user is not asked',
      tag: 'approval',
      auth: 'account',
      roles: ['approver'],
      params: ExtensionParams,
      body: decision === 'approve' ? OptionalEmptyBody : ExtensionDecisionBody,
      response: ExtensionDecidedSchema,
      responses: { 200: 'decided', 403: 'not an approver, or your own session', 409: 'no such extension waiting' },
      handler: async ({ req, params, body, account }) => {
        const reason = decision === 'reject' ? ((body as { reason?: string } | null | undefined)?.reason ?? null) : null;
        const decide = () => ctx.sessions.approveExtension(account, params.id, params.eid, decision === 'approve', sourceOf(req), reason);
        // The pending extension lives with the session's lease holder: decided there.
        if (ctx.cluster) await ctx.cluster.onHolder(params.id, { approval: { account, extension_id: params.eid, approve: decision === 'approve', reason, source: sourceOf(req) } }, decide);
        else await decide();
        return { decided: decision };
      },
    });
  }
}
