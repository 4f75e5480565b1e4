import { HistoryPageSchema, HistoryQuery } from '../../common/protocol/history.js';
import type { BrokerContext } from '../context.js';
import type { RouteRegistry } from '../http/registry.js';

export function historyRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/sessions/history',
    summary:
      "Session history, newest first, a page at a time: ticket, analyst, approver, the end user's device, when, how long, how it ended, what was asked and granted, the recording's state. Analysts get their own sessions only; approvers, admins and auditors everyone's. Searchable (q: ticket, reason, analyst) and filtered by analyst, end reason and time",
    tag: 'sessions',
    auth: 'account',
    query: HistoryQuery,
    response: HistoryPageSchema,
    responses: { 200: '{ sessions: [...], next_before }', 400: 'a filter out of range or a malformed cursor' },
    handler: async ({ query, account }) => ctx.sessions.history(account, query),
  });
}
