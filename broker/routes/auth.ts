import { LoginBody, PasswordChangeBody, RefreshBody } from '../../common/protocol/api.js';
import { LoginResultSchema, MeSchema, PasswordChangedSchema, SignedOutSchema } from '../../common/protocol/responses.js';
import { PasskeyOptionsSchema, PasskeySignInOptionsBody } from '../../common/protocol/passkeys.js';
import type { BrokerContext } from '../context.js';
import { forbidden } from '../domain-errors.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

export function authRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/auth/login',
    summary: 'Sign in with password and TOTP; returns a DPoP-bound access token and a rotating refresh token',
    tag: 'auth',
    auth: 'device',
    body: LoginBody,
    response: LoginResultSchema,
    responses: { 200: 'signed in', 400: 'invalid body', 401: 'wrong credentials or bad proof', 403: 'one-time password must be changed first', 429: 'account locked' },
    handler: async ({ req, body, device }) => {
      const answer = body.passkey;
      const passkey = answer ? (r: { id: string; username: string }) => ctx.passkeys.verifyAssertion(r, 'sign_in', answer.challenge_id, answer.credential, sourceOf(req)).then(() => true) : undefined;
      return ctx.accounts.login(body.username, body.password, body.totp, device, sourceOf(req), passkey);
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/login/passkey-options',
    summary: 'Sign in with a passkey in place of a code, step 1: the password, then request options for navigator.credentials.get and the challenge to answer in POST /api/v1/auth/login {passkey}',
    tag: 'auth',
    auth: 'device',
    body: PasskeySignInOptionsBody,
    response: PasskeyOptionsSchema,
    responses: { 200: '{ challenge_id, options }', 401: 'wrong username or password', 403: 'the account has no passkey, or a one-time password must be changed first', 429: 'account locked' },
    handler: async ({ req, body }) => {
      const r = await ctx.accounts.checkCredentials(body.username, body.password, undefined, sourceOf(req), { passwordOnly: true });
      if (r.must_change_password) throw forbidden('this is a one-time password: choose your own password first', 'password_change_required');
      return ctx.passkeys.signInOptions(r.id);
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/password',
    summary: 'Replace a (one-time) password; needs the current password and TOTP',
    tag: 'auth',
    auth: 'device',
    body: PasswordChangeBody,
    response: PasswordChangedSchema,
    responses: { 200: 'changed', 400: 'invalid body or weak password', 401: 'wrong credentials' },
    handler: async ({ req, body }) => {
      await ctx.accounts.changePassword(body.username, body.password, body.totp, body.new_password, sourceOf(req));
      return { changed: true } as const;
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    summary: 'Trade a refresh token (good once) for a new pair; must come from the same device key',
    tag: 'auth',
    auth: 'device',
    body: RefreshBody,
    response: LoginResultSchema,
    responses: { 200: 'new tokens', 401: 'refresh token not valid (a reused one revokes its whole family)' },
    handler: async ({ req, body, device }) => {
      return ctx.accounts.refresh(body.refresh_token, device.jkt, sourceOf(req));
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/logout',
    summary: 'Revoke a refresh token family',
    tag: 'auth',
    auth: 'device',
    body: RefreshBody,
    response: SignedOutSchema,
    responses: { 200: 'signed out' },
    handler: async ({ req, body }) => {
      await ctx.accounts.logout(body.refresh_token, sourceOf(req));
      return { signed_out: true } as const;
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/me',
    summary: 'The signed-in account',
    tag: 'auth',
    auth: 'account',
    response: MeSchema,
    responses: { 200: 'account', 401: 'not signed in' },
    // The token epoch is the broker's own bookkeeping, not part of the answer.
    handler: async ({ account: { token_epoch: _, ...account } }) => account,
  });
}
