import { TicketWebhookBody } from '../../common/protocol/api.js';
import { TicketWebhookResultSchema } from '../../common/protocol/responses.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import { ApiError } from '../http/errors.js';
import { parseInput } from '../http/parse.js';
import type { RouteRegistry } from '../http/registry.js';
import { sourceRefusalKey } from '../rate-limit.js';

export function ticketRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'POST',
    url: '/api/v1/webhooks/tickets',
    summary: 'Ticketing system marks a ticket approved or closed (closing ends its sessions as ticket_closed). HMAC-SHA256 signed, replays refused.',
    tag: 'tickets',
    auth: 'webhook',
    docBody: TicketWebhookBody,
    response: TicketWebhookResultSchema,
    responses: { 200: '{ ticket, status, ended_sessions }', 400: 'invalid body', 401: 'bad signature, stale timestamp or replay' },
    handler: async ({ req, webhook }) => {
      const source = sourceOf(req);
      // The registry checked the signature (http/auth.ts); the body is parsed only after that.
      const body = parseInput(TicketWebhookBody, req.body, 'body');
      const now = ctx.now();
      // A signature is good once (its primary key makes a concurrent replay fail too), and it is
      // recorded in the same transaction as the ticket change, so a failed update can be retried.
      const replayed = await ctx.storage.db
        .transaction()
        .execute(async (trx) => {
          const ins = await trx.insertInto('webhook_replays').values({ signature: webhook.signature, seen_at: now }).onConflict((oc) => oc.column('signature').doNothing()).executeTakeFirst();
          if (Number(ins.numInsertedOrUpdatedRows ?? 0) === 0) return true;
          await trx
            .insertInto('tickets')
            .values({ ref: body.ticket, status: body.status, updated_at: now })
            .onConflict((oc) => oc.column('ref').doUpdateSet({ status: body.status, updated_at: now }))
            .execute();
          return false;
        });
      if (replayed) {
        await ctx.audit.refused({ type: 'ticket.webhook_rejected', outcome: 'denied', actor: 'webhook:tickets', source, meta: { why: 'replay' } }, sourceRefusalKey('ticket.webhook_rejected', source, 'replay'));
        throw new ApiError(401, 'webhook_replayed', 'webhook refused: this delivery was already processed');
      }
      await ctx.storage.db.deleteFrom('webhook_replays').where('seen_at', '<', now - 2 * 3600_000).execute();
      await ctx.audit.append({ type: `ticket.${body.status}`, outcome: 'success', actor: 'webhook:tickets', source, ticket: body.ticket, meta: { event_id: body.event_id } });
      const ended = body.status === 'closed' ? await ctx.sessions.ticketClosed(body.ticket, { actor: 'webhook:tickets', source }) : [];
      return { ticket: body.ticket, status: body.status, ended_sessions: ended };
    },
  });
}
