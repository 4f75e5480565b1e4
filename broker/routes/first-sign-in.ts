import { FirstSignInBody, FirstSignInFinishBody, FirstSignInStartedSchema } from '../../common/protocol/first-sign-in.js';
import { LoginResultSchema } from '../../common/protocol/responses.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

export function firstSignInRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  const first = ctx.firstSignIn;
  r.add({
    method: 'POST',
    url: '/api/v1/auth/first-sign-in',
    summary: 'Start a first sign-in with a one-time password: a setup token for this device (10 minutes), the password rules, and the authenticator secret to enrol when none is confirmed yet',
    tag: 'auth',
    auth: 'device',
    body: FirstSignInBody,
    response: FirstSignInStartedSchema,
    responses: { 200: 'setup started', 401: 'wrong username or password', 409: 'the account has its own password already', 429: 'account locked' },
    handler: async ({ req, body, device }) => first.begin(body.username, body.password, device, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/first-sign-in/finish',
    summary: "Finish a first sign-in: the account's own password and its authenticator code; signs in (DPoP-bound access token and refresh token)",
    tag: 'auth',
    auth: 'device',
    body: FirstSignInFinishBody,
    response: LoginResultSchema,
    responses: { 200: 'signed in', 400: 'the password breaks a rule (named)', 401: 'wrong code, or the setup is over (expired, used, another device)', 429: 'account locked' },
    handler: async ({ req, body, device }) => first.finish(body.setup_token, body.new_password, body.totp, device, sourceOf(req)),
  });
}
