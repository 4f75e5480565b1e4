import { PendingExtensionsSchema } from '../../common/protocol/responses.js';
import type { BrokerContext } from '../context.js';
import type { RouteRegistry } from '../http/registry.js';

/**
 * Read-only: the requests for more time an approver has to decide. Without it an approver could
 * never learn an extension's id, so `/sessions/:id/extensions/:eid/approve|reject` had no caller.
 * The decision itself stays in the session service (routes/sessions.ts).
 */
export function extensionRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/extensions/pending',
    summary: 'Requests for more time waiting for an approver, on live sessions, oldest first, with who asked, for how long, and the session they extend',
    tag: 'approval',
    auth: 'account',
    roles: ['approver'],
    response: PendingExtensionsSchema,
    responses: { 200: '{ extensions: [{ id, session_id, ticket, minutes, requested_at, reason, capabilities, expires_at, hard_deadline, analyst }] }', 403: 'not an approver' },
    handler: async () => ({ extensions: await ctx.sessions.pendingExtensions() }),
  });
}
