import { KillBody, OptionalEmptyBody, SessionIdParams } from '../../common/protocol/api.js';
import { SessionViewSchema } from '../../common/protocol/responses.js';
import { LiveListSchema, ModerationAnswerSchema, NoteAnswerSchema, NoteBody, SuspendBody, WatchTicketSchema } from '../../common/protocol/watch.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import type { RouteRegistry } from '../http/registry.js';

/** Monitored sessions (docs/api.md "Watching a session"): the Live list, watch tickets, moderation. */
export function watchRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  const roles = ['supervisor', 'admin'] as const;
  r.add({
    method: 'GET',
    url: '/api/v1/live',
    summary: 'Every active session for the Live screen: analyst, organisation, ticket, time left, grants now, recording, who is watching, whether control is suspended',
    tag: 'watching',
    auth: 'account',
    roles,
    response: LiveListSchema,
    responses: { 200: '{ sessions: [...] }', 403: 'not a supervisor or admin' },
    handler: async ({ account }) => ({ sessions: await ctx.sessions.liveList(account) }),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/watch',
    summary: 'A ticket (60 s, one socket, bound to your device key) for the WebSocket at the answer\'s url, which relays the recording live with presence and the state of control (docs/signaling.md). Audited as watch.ticket_issued',
    tag: 'watching',
    auth: 'account',
    roles,
    params: SessionIdParams,
    body: OptionalEmptyBody,
    response: WatchTicketSchema,
    responses: { 200: '{ token, expires_at, url }', 403: 'not a supervisor or admin, or your own session (own_session)', 404: 'no such session', 409: 'not active, or the offer did not allow watchers (watchers_not_allowed)' },
    handler: async ({ req, params, account, device }) => ctx.sessions.issueWatchTicket(account, params.id, device.jkt, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/moderation/suspend',
    summary: "Suspend control (you must be watching): the end user's gate locks and both parties are told why; control cannot be asked for until it is resumed. Audited",
    tag: 'watching',
    auth: 'account',
    roles,
    params: SessionIdParams,
    body: SuspendBody,
    response: ModerationAnswerSchema,
    responses: { 200: '{ control }', 403: 'not a supervisor or admin', 409: 'not watching (not_watching), not active, or already suspended' },
    handler: async ({ req, params, body, account }) => ctx.sessions.suspendControl(account, params.id, body?.reason, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/moderation/resume',
    summary: "Lift a watcher's suspension of control (you must be watching); the gate unlocks if control is still granted. Audited",
    tag: 'watching',
    auth: 'account',
    roles,
    params: SessionIdParams,
    body: OptionalEmptyBody,
    response: ModerationAnswerSchema,
    responses: { 200: '{ control }', 403: 'not a supervisor or admin', 409: 'not watching, not active, or not suspended by a watcher (not_suspended)' },
    handler: async ({ req, params, account }) => ctx.sessions.resumeControl(account, params.id, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/moderation/note',
    summary: 'A note to the analyst (you must be watching), up to 500 characters; the audit keeps its length only',
    tag: 'watching',
    auth: 'account',
    roles,
    params: SessionIdParams,
    body: NoteBody,
    response: NoteAnswerSchema,
    responses: { 200: "{ sent_at, delivered }: delivered says whether the analyst's socket was connected", 403: 'not a supervisor or admin', 409: 'not watching, or not active' },
    handler: async ({ req, params, body, account }) => ctx.sessions.noteToAnalyst(account, params.id, body.text, sourceOf(req)),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/moderation/end',
    summary: 'End the session now (you must be watching); it ends as revoked and both parties read your reason. Audited as moderation.ended',
    tag: 'watching',
    auth: 'account',
    roles,
    params: SessionIdParams,
    body: KillBody,
    response: SessionViewSchema,
    responses: { 200: 'ended; both sides and every watcher told and disconnected', 403: 'not a supervisor or admin', 409: 'not watching, or not active' },
    handler: async ({ req, params, body, account }) => ctx.sessions.endByWatcher(account, params.id, body?.reason, sourceOf(req)),
  });
}
