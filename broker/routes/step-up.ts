import { StepUpBody, SteppedUpSchema } from '../../common/protocol/step-up.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

export function stepUpRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/auth/step-up',
    summary: 'A fresh second factor from the signed-in account (its authenticator code): control and files need one from the last policy.step_up_minutes',
    tag: 'auth',
    auth: 'account',
    body: StepUpBody,
    response: SteppedUpSchema,
    responses: { 200: '{ mfa_at }', 400: 'wrong or reused code', 403: 'the account has no authenticator app', 429: 'account locked' },
    handler: async ({ req, body, account }) => ctx.accounts.stepUp(account.id, body.totp, sourceOf(req)),
  });
}
