import { ConsentBody, EndUserStopBody, JoinBody, SessionIdParams, TeardownReportBody } from '../../common/protocol/api.js';
import { ConsentResultSchema, RedeemResultSchema, SessionStoppedSchema, TeardownRecordedSchema } from '../../common/protocol/responses.js';
import { forbidden } from '../http/errors.js';
import type { EndReason } from '../../common/session-state.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

export function joinRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/join',
    summary: "End user redeems a join code with a DPoP proof of the device key; returns the broker-signed consent offer",
    tag: 'end user',
    auth: 'device',
    body: JoinBody,
    response: RedeemResultSchema,
    responses: { 200: '{ session_id, offer, offer_expires_at }', 401: 'no or bad device proof', 404: 'code not valid (mistyped, used, expired)', 429: 'too many wrong codes' },
    handler: async ({ req, body, device }) => {
      const redeemed = await ctx.sessions.redeem(body.code, device, sourceOf(req));
      // A device is remembered once it has redeemed a code: wrong guesses leave no rows behind.
      await ctx.accounts.rememberDevice(device);
      return redeemed;
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/join/consent',
    summary: 'End user answers the offer with a receipt signed by the device key (accept grants view and chat only)',
    tag: 'end user',
    auth: 'device',
    body: ConsentBody,
    response: ConsentResultSchema,
    responses: { 200: '{ accepted, token?, expires_at?, ice_servers? }', 400: 'receipt rejected', 403: 'not the device that redeemed the code', 409: 'offer expired or session not pending consent', 503: 'cluster mode: Redis does not answer (cluster_unavailable)' },
    handler: async ({ req, body, device }) => {
      ctx.cluster?.mustBeReady();
      return ctx.sessions.consent(body.session_id, body.receipt, device, sourceOf(req));
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/join/teardown-report',
    summary: "End user's client reports the local grants it revoked, signed by its device key, when signaling is gone or after a crash; taken until 10 minutes after the session's end, once per session and after_crash",
    tag: 'end user',
    auth: 'device',
    body: TeardownReportBody,
    response: TeardownRecordedSchema,
    responses: { 200: 'recorded in the audit chain', 400: 'receipt rejected (bad_receipt)', 403: 'not the device of this session', 404: 'no such session', 409: 'already reported, not started, or more than 10 minutes after the end' },
    handler: async ({ req, body, device }) => {
      await ctx.sessions.teardownReport(body.session_id, body, device, sourceOf(req));
      return { recorded: true } as const;
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/stop',
    summary:
      "The end user's client ends its own session when it has no signaling socket to say so: after Accept the screen could not be shared or a required recording did not start (capture_refused, recording_failed), or the end user stopped while signaling was away (user_stopped)",
    tag: 'end user',
    auth: 'session',
    params: SessionIdParams,
    body: EndUserStopBody,
    response: SessionStoppedSchema,
    responses: { 200: '{ ended: true, reason }: both sides told, tokens revoked', 403: "not the end user's token for this session", 409: 'the session is not active (already ended)' },
    handler: async ({ req, params, body, session }) => {
      if (session.sid !== params.id || session.role !== 'end_user') throw forbidden("only the end user's session token for this session stops it here");
      const row = await ctx.sessions.stopByEndUser(session.jkt, params.id, body.reason, sourceOf(req));
      return { ended: true, reason: (row.end_reason as EndReason | null) ?? body.reason } as const;
    },
  });
}
