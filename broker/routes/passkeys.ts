import { OptionalEmptyBody } from '../../common/protocol/api.js';
import { PasskeyAddBody, PasskeyAssertionBody, PasskeyIdParams, PasskeyListSchema, PasskeyOptionsSchema, PasskeyRemovedSchema, PasskeySchema } from '../../common/protocol/passkeys.js';
import { SteppedUpSchema } from '../../common/protocol/step-up.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

/** The signed-in person's own passkeys, and the passkey step-up. Every account may have them; admins cannot add one for another. */
export function passkeyRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  const pk = ctx.passkeys;
  r.add({
    method: 'GET',
    url: '/api/v1/me/passkeys',
    summary: "The signed-in account's passkeys (name, added, last used)",
    tag: 'auth',
    auth: 'account',
    response: PasskeyListSchema,
    responses: { 200: '{ passkeys }' },
    handler: async ({ account }) => ({ passkeys: await pk.list(account.id) }),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/me/passkeys/options',
    summary: 'Start adding a passkey: creation options for navigator.credentials.create and the id of the stored challenge (good once, 5 minutes); needs a second factor from the last policy.step_up_minutes',
    tag: 'auth',
    auth: 'account',
    body: OptionalEmptyBody,
    response: PasskeyOptionsSchema,
    responses: { 200: '{ challenge_id, options }', 403: 'the last second factor is too old (step_up_required)', 409: 'passkeys not set up on this broker, or 10 passkeys already' },
    handler: async ({ account }) => pk.registrationOptions(account),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/me/passkeys',
    summary: "Finish adding a passkey: the authenticator's answer to the challenge and a name for it; audited",
    tag: 'auth',
    auth: 'account',
    body: PasskeyAddBody,
    response: PasskeySchema,
    responses: { 200: 'the passkey', 400: 'refused (challenge used, foreign or expired; wrong origin or rp id; no user verification)' },
    handler: async ({ req, body, account }) => pk.add(account, body.challenge_id, body.name, body.credential, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/me/passkeys/:id/remove',
    summary: 'Remove one of your passkeys; audited',
    tag: 'auth',
    auth: 'account',
    params: PasskeyIdParams,
    body: OptionalEmptyBody,
    response: PasskeyRemovedSchema,
    responses: { 200: '{ removed }', 404: 'no such passkey on this account' },
    handler: async ({ req, params, account }) => {
      await pk.remove(account, params.id, sourceOf(req));
      return { removed: true } as const;
    },
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/step-up/passkey/options',
    summary: "Start a passkey step-up: request options for navigator.credentials.get (the account's passkeys) and the challenge's id",
    tag: 'auth',
    auth: 'account',
    body: OptionalEmptyBody,
    response: PasskeyOptionsSchema,
    responses: { 200: '{ challenge_id, options }', 403: 'the account has no passkey', 409: 'passkeys not set up on this broker' },
    handler: async ({ account }) => pk.stepUpOptions(account),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/auth/step-up/passkey',
    summary: 'A fresh second factor by passkey: control and files need one from the last policy.step_up_minutes',
    tag: 'auth',
    auth: 'account',
    body: PasskeyAssertionBody,
    response: SteppedUpSchema,
    responses: { 200: '{ mfa_at }', 400: 'refused (challenge used, foreign or expired; wrong origin or rp id; counter not increased; unknown passkey)' },
    handler: async ({ req, body, account }) => pk.stepUp(account, body.challenge_id, body.credential, sourceOf(req)),
  });
}
