import { SessionIdParams } from '../../common/protocol/api.js';
import { SessionStateEventSchema } from '../../common/protocol/responses.js';
import type { SessionState } from '../../common/session-state.js';
import type { BrokerContext } from '../context.js';
import type { RouteRegistry } from '../http/registry.js';

/** A comment line now and then, so proxies and the page both see the stream is alive. */
const HEARTBEAT_MS = 15_000;
/** A stream ends after this long; the page opens a new one (and polls meanwhile). */
const MAX_STREAM_MS = 10 * 60_000;

/**
 * The analyst's page hears the moment its session moves (approved, active, ended) as a
 * server-sent event instead of finding out on its next once-a-second poll: most of the app's
 * extra time to first frame was that poll. The first event is the state as it is now, so nothing
 * that happened between the page's last look and the stream opening is missed.
 */
export function sessionEventRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/sessions/:id/events',
    summary: 'Server-sent events (text/event-stream): `event: state` with { state } now and on every change, until the session ends',
    tag: 'sessions',
    auth: 'account',
    roles: ['analyst'],
    params: SessionIdParams,
    response: SessionStateEventSchema,
    responses: { 200: 'the event stream', 403: 'not an analyst', 404: 'no such session (or not yours)' },
    handler: async ({ req, reply, params, account }) => {
      const view = await ctx.sessions.viewFor(account, params.id);
      const watch = ctx.sessions.stateWatch;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      });
      let last: SessionState = view.state;
      const send = (state: SessionState) => {
        last = state;
        res.write(`event: state\ndata: ${JSON.stringify({ state })}\n\n`);
      };
      return new Promise((resolve) => {
        let done = false;
        const close = () => {
          if (done) return;
          done = true;
          off();
          release();
          clearInterval(beat);
          clearTimeout(limit);
          res.end();
          resolve({ state: last });
        };
        const off = watch.on(params.id, (state) => {
          send(state);
          if (state === 'ended') close();
        });
        const release = watch.holdOpen(close);
        const beat = setInterval(() => res.write(': alive\n\n'), HEARTBEAT_MS);
        const limit = setTimeout(close, MAX_STREAM_MS);
        req.raw.on('close', close);
        send(view.state);
        if (view.state === 'ended') close();
      });
    },
  });
}
