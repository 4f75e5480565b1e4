import { OidcCallbackQuery, OidcCallbackSchema, OidcConfigSchema, OidcFinishBody, OidcStartBody, OidcStartedSchema } from '../../common/protocol/oidc.js';
import { LoginResultSchema } from '../../common/protocol/responses.js';
import { SteppedUpSchema } from '../../common/protocol/step-up.js';
import type { BrokerContext } from '../context.js';
import { notFound } from '../domain-errors.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

export function oidcRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  const sso = (): NonNullable<BrokerContext['oidc']> => {
    if (!ctx.oidc) throw notFound('single sign-on is not set up on this broker (broker.json `oidc`, docs/sso.md)', 'sso_not_configured');
    return ctx.oidc;
  };
  r.add({
    method: 'GET',
    url: '/api/v1/auth/oidc',
    summary: 'Whether single sign-on is set up, and with which identity provider (the sign-in screen shows its button from this)',
    tag: 'auth',
    auth: 'none',
    response: OidcConfigSchema,
    responses: { 200: '{ enabled, issuer }' },
    handler: async () => ({ enabled: ctx.oidc !== null, issuer: ctx.oidc?.oidc.issuer ?? null }),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/oidc/start',
    summary: "Start a sign-in at the identity provider (code with PKCE S256, state, nonce), bound to this request's device key: the provider's URL to open",
    tag: 'auth',
    auth: 'device',
    body: OidcStartBody,
    response: OidcStartedSchema,
    responses: { 200: '{ authorization_url, state, expires_in }', 400: 'return_to or the loopback redirect not allowed', 404: 'single sign-on not set up', 503: 'the identity provider does not answer' },
    handler: async ({ body, device }) => sso().start(device, body),
  });
  r.add({
    method: 'GET',
    url: '/api/v1/auth/oidc/callback',
    summary: "The identity provider's redirect (register it there): sends the browser back to the page that started, with the answer in the fragment; redeems nothing",
    tag: 'auth',
    auth: 'none',
    query: OidcCallbackQuery,
    response: OidcCallbackSchema,
    responses: { 302: 'to return_to#sso_state=...&sso_code=...', 400: 'a state the broker did not start, or over', 404: 'single sign-on not set up' },
    handler: async ({ query, reply }) => {
      const target = await sso().callbackTarget(query);
      reply.code(302).header('location', target);
      return '';
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/oidc/finish',
    summary: "Finish a sign-in with the provider's answer, from the device that started it: the account is created or updated from the ID token's claims (roles from groups), then signed in",
    tag: 'auth',
    auth: 'device',
    body: OidcFinishBody,
    response: LoginResultSchema,
    responses: {
      200: 'signed in',
      401: 'refused, the code says why: sso_bad_state, sso_other_device, sso_code_refused (PKCE), sso_wrong_issuer, sso_wrong_audience, sso_wrong_nonce, sso_bad_signature, account_disabled',
      403: 'sso_no_role: in none of the groups that give a role',
      409: 'sso_username_taken: a local account has that name',
    },
    handler: async ({ req, body, device }) => sso().finish(device, body, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/oidc/step-up',
    summary: "Start a re-authorisation at the identity provider (max_age policy.step_up_minutes, and oidc.step_up_acr): an SSO account's step-up before control and files",
    tag: 'auth',
    auth: 'account',
    body: OidcStartBody,
    response: OidcStartedSchema,
    responses: { 200: '{ authorization_url, state, expires_in }', 400: 'return_to or the loopback redirect not allowed', 404: 'single sign-on not set up' },
    handler: async ({ body, device, account }) => sso().start(device, body, 'step_up', account),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/oidc/step-up/finish',
    summary: "Finish a re-authorisation: the ID token's auth_time (at most policy.step_up_minutes old) becomes the account's mfa_at",
    tag: 'auth',
    auth: 'account',
    body: OidcFinishBody,
    response: SteppedUpSchema,
    responses: { 200: '{ mfa_at }', 401: 'refused as a sign-in is, or sso_stale_auth, sso_other_person', 403: 'sso_acr_not_met' },
    handler: async ({ req, body, device, account }) => sso().finishStepUp(account.id, device, body, sourceOf(req)),
  });
}
