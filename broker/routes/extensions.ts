import type { BrokerContext } from '../context.js';
import { requireAccount } from '../http/auth.js';
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
    responses: { 200: '{ extensions: [{ id, session_id, ticket, minutes, requested_at, reason, capabilities, expires_at, hard_deadline, analyst }] }', 403: 'not an approver' },
    handler: async ({ req }) => {
      await requireAccount(ctx, req, ['approver']);
      const rows = await ctx.storage.db
        .selectFrom('extensions as e')
        .innerJoin('sessions as s', 's.id', 'e.session_id')
        .leftJoin('accounts as a', 'a.id', 's.analyst_id')
        .select(['e.id', 'e.session_id', 'e.minutes', 'e.requested_at', 's.ticket_ref', 's.reason', 's.capabilities', 's.expires_at', 's.hard_deadline', 's.analyst_id', 'a.username', 'a.display_name', 'a.organisation', 'a.kind'])
        .where('e.state', '=', 'awaiting_approval')
        .where('s.state', '=', 'active')
        .orderBy('e.requested_at')
        .limit(200)
        .execute();
      return {
        extensions: rows.map((x) => ({
          id: x.id,
          session_id: x.session_id,
          ticket: x.ticket_ref,
          minutes: x.minutes,
          requested_at: x.requested_at,
          reason: x.reason,
          capabilities: x.capabilities.split(','),
          expires_at: x.expires_at,
          hard_deadline: x.hard_deadline,
          analyst: { id: x.analyst_id, username: x.username ?? '(deleted)', display_name: x.display_name ?? '(deleted)', organisation: x.organisation ?? '', kind: x.kind ?? 'internal' },
        })),
      };
    },
  });
}
